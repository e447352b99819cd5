"""Scale-out: PII redaction of a Parquet table, single process vs Dask with 2 worker processes.

The same table, plan and key on both paths (the rows are identical: tests/privacy/
test_redact_dask.py). Each engine runs in its own child process; peak memory is the largest
resident set of that process and, for Dask, of each worker (``VmHWM``; ``ru_maxrss`` would
report the parent's resident set, which holds the generated table, as Linux keeps it across
``exec``). Size with ``CPMAP_BENCH_DASK_ROWS`` (default 1,000,000; 10,000,000 measured on
2026-12-04 on a quiet moment of this shared machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import write_page

ROWS = int(os.environ.get("CPMAP_BENCH_DASK_ROWS", "1000000"))

CHILD = """
import json, sys, time
from pathlib import Path
def peak_kb():  # VmHWM: this process's own peak (ru_maxrss keeps the forking parent's across exec)
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
from cpmap.privacy.redact import Plan, redact_table_file
from cpmap.privacy.scan import make_analyzer
from cpmap.privacy.transform import Replacer
engine, src, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
analyzer, plan, rep = make_analyzer(), Plan(), Replacer(b"k" * 32)
start = time.perf_counter()
workers_rss = []
if engine == "single":
    targets, counts = redact_table_file(src, out, analyzer, plan, rep)
else:
    from distributed import Client, LocalCluster
    from cpmap.privacy.distributed import redact_table_dask
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        targets, counts = redact_table_dask(src, out, analyzer, plan, rep, client=client)
        rss = client.run(peak_kb)
        workers_rss = sorted(rss.values())
took = time.perf_counter() - start
print(json.dumps({"seconds": took, "rss_kb": peak_kb(),
                  "workers_rss_kb": workers_rss, "cells": sum(counts.values()),
                  "columns": [t.column for t in targets]}))
"""


def _table(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 10**9, rows)
    frame = pd.DataFrame({
        "id": np.arange(rows),
        "email": [f"user{i}@mail{i % 97}.example.com" for i in ids],
        "phone": [f"+1 415 555 {i % 10000:04d}" for i in ids],
        "amount": rng.normal(100, 20, rows).round(2),
    })
    frame.to_parquet(path, index=False, row_group_size=100_000)


def _run(engine: str, src: Path, out: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-c", CHILD, engine, str(src), str(out)], env=env,
                       capture_output=True, text=True, timeout=3600, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{engine}: {r.stderr.strip().splitlines()[-1:]}")
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "table.parquet"
        _table(src, ROWS)
        mb = src.stat().st_size / 1e6
        single = _run("single", src, Path(tmp) / "one.parquet")
        dask = _run("dask", src, Path(tmp) / "parts")
    if single["cells"] != dask["cells"]:
        raise RuntimeError(f"cells differ: {single['cells']} vs {dask['cells']}")
    wr = dask["workers_rss_kb"]
    assert isinstance(wr, list)
    rows = [
        f"| single process | {single['seconds']:.1f} s | {int(str(single['rss_kb'])) / 1024:.0f}"
        " MB | |",
        f"| Dask, 2 worker processes (LocalCluster, start-up included) | "
        f"{dask['seconds']:.1f} s | client {int(str(dask['rss_kb'])) / 1024:.0f} MB | "
        f"workers {', '.join(f'{int(w) / 1024:.0f}' for w in wr)} MB |",
    ]
    body = (f"Redaction (HMAC pseudonyms) of a {ROWS:,}-row Parquet table ({mb:.0f} MB, row "
            f"groups of 100,000; columns {', '.join(map(str, single['columns']))} found by the "
            f"seeded 10,000-row sample), {single['cells']:,} cells replaced on both paths.\n\n"
            "| engine | time | peak memory | |\n|---|---|---|---|\n" + "\n".join(rows) +
            "\n\nOn this shared 2-core machine two workers compete with everything else; the "
            "Dask path is for tables that do not fit one machine's memory (each worker holds "
            "one group of row groups) and for clusters with more cores.")
    write_page("scale-dask", "Scale-out: PII redaction on Dask", body, "scale_dask")


if __name__ == "__main__":
    main()
