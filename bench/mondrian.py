"""Mondrian k-anonymization at scale: 100,000 rows, 6 quasi-identifiers, k = 10.

Seeded synthetic population (age, zip, sex, income, education, children; a sensitive
diagnosis). Reports wall time, partitions, information loss (NCP, discernibility) and checks the
output with ``assess``. The peer for the time figure is the pandas ``groupby`` that
``assess`` itself runs, so the cost of anonymizing can be read against the cost of measuring.

Run: ``python -m bench.mondrian [--rows N]``; writes the Mondrian section of
docs/benchmarks/cp2.md.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from bench.common import machine
from bench.pii import write_section

QUASI = ["age", "zip", "sex", "income", "education", "children"]


def population(n: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "zip": rng.integers(10000, 99999, n),
        "sex": rng.choice(["F", "M", "X"], n, p=[0.49, 0.49, 0.02]),
        "income": np.round(rng.lognormal(10.8, 0.5, n), -2),
        "education": rng.choice(["none", "primary", "secondary", "bachelor", "master", "phd"],
                                n, p=[0.05, 0.15, 0.4, 0.25, 0.12, 0.03]),
        "children": rng.integers(0, 6, n),
        "diagnosis": rng.choice(["flu", "asthma", "diabetes", "none", "cancer"], n),
    })


def main(argv: list[str] | None = None) -> None:
    from cpmap.privacy.anonymity import assess
    from cpmap.privacy.mondrian import anonymize

    args = sys.argv[1:] if argv is None else argv
    n = int(args[args.index("--rows") + 1]) if "--rows" in args else 100_000
    frame = population(n)
    rows = []
    for label, kwargs in (("k=10", {}),
                          ("k=10, l=3 (diagnosis)", {"l_": 3, "sensitive": "diagnosis"}),
                          ("k=10, 1% suppression", {"suppress": 0.01})):
        start = time.perf_counter()
        res = anonymize(frame, QUASI, 10, **kwargs)  # type: ignore[arg-type]
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        a = assess(res.frame, QUASI, "diagnosis")
        check = time.perf_counter() - start
        rows.append(f"| {label} | {seconds:.2f} | {res.partitions} | {a.k} | {a.l_distinct} | "
                    f"{res.suppressed} | {res.ncp:.4f} | {res.discernibility:.3g} | {check:.2f} |")
    raw = assess(frame, QUASI, "diagnosis")
    body = f"""## Mondrian anonymization, {n:,} rows x 6 quasi-identifiers

Measured by `python -m bench.mondrian --rows {n}` on {machine()} (2 shared cores).
Quasi-identifiers: {", ".join(QUASI)} (3 numeric, 3 categorical); before: k = {raw.k},
{raw.uniqueness:.1%} of records unique. NCP: normalized certainty penalty (0 = original,
1 = fully generalized; suppressed records count 1). "assess" is the time of the check
(`cpmap privacy assess`) on the output.

| run | time (s) | partitions | k | l | suppressed | NCP | discernibility | assess (s) |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}
"""
    write_section("mondrian", body)


if __name__ == "__main__":
    main()
