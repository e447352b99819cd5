"""Differentially private queries through OpenDP's vetted mechanisms, charged to the budget.

Queries: ``count``, ``sum(col)``, ``mean(col)`` (bounded: ``--bounds lo,hi``, public bounds,
never read from the data) and ``histogram(col)`` (``--categories`` a public list; values
outside it are counted in ``__other__``). Neighbouring datasets differ by one added or removed
record (symmetric distance 1). The noise scale is the smallest OpenDP's ``binary_search_param``
finds for the requested epsilon; the measurement's own privacy map is checked before anything
is computed. The release happens only after :func:`cpmap.privacy.budget.spend` accepted the
charge, and the spend's ledger entry carries the released value.

We never hand-roll noise: without the ``dp`` extra (``pip install 'cpmap[dp]'``) these
commands refuse to run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cpmap.errors import InputError

_QUERY = re.compile(r"^\s*(?:(count)(?:\(\s*\*?\s*\))?|(sum|mean|histogram)\(\s*([^()]+?)\s*\))"
                    r"\s*$")


@dataclass(frozen=True)
class Query:
    kind: str
    column: str | None
    bounds: tuple[float, float] | None = None
    categories: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.kind if self.column is None else f"{self.kind}({self.column})"


def parse_query(text: str, bounds: str | None = None,
                categories: str | list[str] | None = None) -> Query:
    m = _QUERY.match(text)
    if m is None:
        raise InputError(f"--query {text!r}: use count, sum(col), mean(col) or histogram(col)")
    kind = m.group(1) or m.group(2)
    column = m.group(3)
    b = _bounds(bounds) if bounds else None
    if kind in ("sum", "mean") and b is None:
        raise InputError(f"--query {text}: needs --bounds LO,HI (public bounds; values are "
                         "clamped to them)")
    cats: tuple[str, ...] = ()
    if kind == "histogram":
        items = categories if isinstance(categories, list) else (categories or "").split(",")
        cats = tuple(dict.fromkeys(c.strip() for c in items if c.strip()))
        if not cats:
            raise InputError(f"--query {text}: needs --categories a,b,c (a public list; "
                             "reading it from the data would leak)")
    return Query(kind, column, b, cats)


def _bounds(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError as e:
        raise InputError(f"--bounds {text!r}: expected LO,HI numbers") from e
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InputError(f"--bounds {text!r}: need finite LO < HI")
    return lo, hi


def opendp() -> Any:
    """OpenDP's API as the usual ``dp`` namespace (``dp.t``, ``dp.m``, domains, metrics).

    Built from the submodules rather than ``opendp.prelude``, which also imports scikit-learn
    (seconds of start-up a one-line query does not need).
    """
    from types import SimpleNamespace

    try:
        import opendp.domains as domains
        import opendp.measurements as measurements
        import opendp.metrics as metrics
        import opendp.mod as mod
        import opendp.transformations as transformations
    except ImportError as e:
        raise InputError("differential privacy needs OpenDP, which is not installed",
                         hint="pip install 'cpmap[dp]'") from e
    mod.enable_features("contrib")
    return SimpleNamespace(
        t=transformations, m=measurements, binary_search_param=mod.binary_search_param,
        vector_domain=domains.vector_domain, atom_domain=domains.atom_domain,
        symmetric_distance=metrics.symmetric_distance)


def _calibrated(make: Callable[[float], Any], epsilon: float) -> Any:
    from opendp.mod import OpenDPException

    dp = opendp()
    try:
        scale = dp.binary_search_param(make, d_in=1, d_out=epsilon)
        meas = make(scale)
    except OpenDPException as e:  # e.g. an epsilon too small or bounds too wide to represent
        detail = " ".join(str(e).split())[:200]
        raise InputError(f"epsilon {epsilon}: OpenDP cannot calibrate a mechanism with these "
                         f"parameters: {detail}") from e
    if meas.map(1) > epsilon * (1 + 1e-9):
        raise InputError(f"OpenDP could not calibrate a mechanism to epsilon {epsilon}")
    return meas


def _numeric(frame: pd.DataFrame, column: str) -> list[float]:
    """The column's values record by record (:func:`cpmap.privacy.records.numbers`): a missing
    or non-numeric cell is imputed at 0 before clamping, never a refusal (which would reveal
    whether the column holds any number) and never dropped (which would change the count)."""
    from cpmap.privacy.records import numbers

    return numbers(frame[column].tolist())


def _sum(dp: Any, values: list[float], bounds: tuple[float, float], eps: float) -> float:
    dom = dp.vector_domain(dp.atom_domain(T=float, nan=False))
    meas = _calibrated(lambda s: dp.t.make_clamp(dom, dp.symmetric_distance(), bounds=bounds)
                       >> dp.t.then_sum() >> dp.m.then_laplace(s), eps)
    return float(meas(values))


def _count(dp: Any, n: int, eps: float) -> int:
    dom = dp.vector_domain(dp.atom_domain(T=bool))
    meas = _calibrated(lambda s: dp.t.make_count(dom, dp.symmetric_distance())
                       >> dp.m.then_laplace(s), eps)
    return int(meas([True] * n))


def noisy_histogram(values: list[str], categories: tuple[str, ...], eps: float) -> list[int]:
    """Laplace-noised counts of ``categories`` (+ one for everything else), via OpenDP."""
    dp = opendp()
    dom = dp.vector_domain(dp.atom_domain(T=str))
    meas = _calibrated(lambda s: dp.t.make_count_by_categories(
        dom, dp.symmetric_distance(), categories=list(categories)) >> dp.m.then_laplace(s), eps)
    return [max(0, int(c)) for c in meas(values)]  # clipping is post-processing: still DP


def evaluate(frame: pd.DataFrame, q: Query, epsilon: float) -> dict[str, Any]:
    """Compute the DP release of ``q`` on ``frame`` (not yet charged: see :func:`release`)."""
    dp = opendp()
    if q.column is not None and q.column not in frame.columns:
        raise InputError(f"--query {q}: no column {q.column!r} (columns: "
                         f"{', '.join(map(str, frame.columns))})")
    if q.kind == "count":
        return {"value": max(0, _count(dp, len(frame), epsilon)), "mechanism": "discrete laplace"}
    if q.kind == "histogram":
        assert q.column is not None  # noqa: S101 - guaranteed by the parser
        # each cell on its own against the public list (never a dtype inferred from every
        # row); a missing or unlisted value counts in __other__
        from cpmap.privacy.records import categorize

        counts = noisy_histogram(categorize(frame[q.column].tolist(), q.categories),
                                 q.categories, epsilon)
        return {"value": dict(zip((*q.categories, "__other__"), counts, strict=True)),
                "mechanism": "discrete laplace per category"}
    assert q.column is not None and q.bounds is not None  # noqa: S101 - parser
    values = _numeric(frame, q.column)
    if q.kind == "sum":
        return {"value": _sum(dp, values, q.bounds, epsilon), "mechanism": "laplace",
                "bounds": list(q.bounds)}
    total = _sum(dp, values, q.bounds, epsilon / 2)
    n = max(1, _count(dp, len(values), epsilon / 2))
    mean = float(np.clip(total / n, *q.bounds))
    return {"value": mean, "mechanism": "laplace sum / discrete laplace count (epsilon split)",
            "bounds": list(q.bounds)}


@dataclass(frozen=True)
class Release:
    dataset: str
    query: str
    epsilon: float
    value: Any
    mechanism: str
    entry: int
    remaining: float

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "query": self.query, "epsilon": self.epsilon,
                "value": self.value, "mechanism": self.mechanism, "entry": self.entry,
                "remaining_epsilon": self.remaining}


def release(ws: Any, frame: pd.DataFrame, dataset: str, q: Query, epsilon: float,
            digest: str | None = None, new_population: bool = False) -> Release:
    """Compute, charge the budget (refused: nothing is released), and return the release.

    The charge goes to the population of ``digest`` (else of the registered ``dataset``): the
    roots of its CP1 lineage (:mod:`cpmap.privacy.population`). Read ``frame`` with
    :func:`cpmap.privacy.records.load_text` so that no value's encoding depends on other rows.
    """
    from cpmap.privacy.budget import _check_amount, spend

    eps = _check_amount(epsilon, "epsilon")
    result = evaluate(frame, q, eps)
    details = {"query": str(q), "mechanism": result["mechanism"], "library": "opendp",
               "released": result["value"]} | ({"new_population": True} if new_population
                                               else {})
    s = spend(ws, dataset, eps, f"dp-query {q}", digest=digest, details=details)
    return Release(s.dataset, str(q), eps, result["value"], result["mechanism"], s.entry,
                   s.remaining)
