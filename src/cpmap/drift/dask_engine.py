"""The Dask engine: partitioned Parquet that need not fit in memory, summarized per partition.

The reference's bin edges come first (its quantiles, from a bounded seeded sample of its
partitions); then every partition of both sides becomes a :mod:`~cpmap.drift.binned` summary
on those edges, the summaries are added up in a tree, and the tests run on the totals, so a
worker holds one partition at a time. The multivariate test runs on a bounded sample of rows
from each side. ``--scheduler ADDRESS`` uses an existing cluster; otherwise a LocalCluster
on 127.0.0.1, closed afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.drift import binned as bn
from cpmap.drift.engine import DriftResult, matrix, reference_edges, summaries
from cpmap.drift.frame import column_kinds
from cpmap.drift.multivariate import MultivariateResult, domain_classifier
from cpmap.drift.policy import DriftPolicy
from cpmap.drift.univariate import decide
from cpmap.errors import InputError

if TYPE_CHECKING:
    import pandas as pd


@contextmanager
def client(scheduler: str | None = None, *, processes: bool = True,
           workers: int = 2) -> Iterator[Any]:
    """A distributed client: to ``scheduler``, or to a LocalCluster made (and closed) here."""
    import importlib

    dist: Any = importlib.import_module("distributed")  # untyped library
    Client, LocalCluster = dist.Client, dist.LocalCluster

    if scheduler:
        try:
            c = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as e:
            raise InputError(f"--scheduler {scheduler}: cannot connect: {e}") from e
        try:
            yield c
        finally:
            c.close()
        return
    where = {"host": "127.0.0.1"} if processes else {}  # in-process: no socket at all
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                      dashboard_address=None, **where) as cluster, \
            Client(cluster) as c:
        yield c


def _read(path: Path, columns: Sequence[str] | None = None) -> Any:
    import dask.dataframe as dd

    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    try:
        return dd.read_parquet(str(path), columns=list(columns) if columns else None)
    except Exception as e:  # noqa: BLE001 - pyarrow/fsspec raise many types
        raise InputError(f"{path}: not a readable (partitioned) Parquet table: "
                         f"{type(e).__name__}") from e


def _sample(ddf: Any, rows: int, seed: int) -> pd.DataFrame:
    """About ``rows`` rows spread over all partitions (seeded)."""
    n = int(ddf.map_partitions(len).sum().compute())
    frac = min(1.0, rows * 1.2 / max(n, 1))
    picked: pd.DataFrame = ddf.sample(frac=frac, random_state=seed).compute().head(rows)
    return picked


def _summed(ddf: Any, kinds: dict[str, str], edges: dict[str, np.ndarray]) -> Any:
    dask = _dask()
    parts = [dask.delayed(summaries)(p, kinds, edges) for p in ddf.to_delayed()]
    while len(parts) > 1:  # a tree of merges: no single task holds every partition's result
        parts = [dask.delayed(_merge)(parts[i:i + 8]) for i in range(0, len(parts), 8)]
    return parts[0]


def _dask() -> Any:
    import importlib

    return importlib.import_module("dask")  # untyped library


def _merge(items: list[dict[str, Any]]) -> dict[str, Any]:
    return reduce(lambda x, y: {k: x[k].merge(y[k]) for k in x}, items)


def compare_parquet(ref_path: Path, cur_path: Path, policy: DriftPolicy | None = None, *,
                    scheduler: str | None = None, processes: bool = True, workers: int = 2,
                    multivariate: bool = True) -> DriftResult:
    """The drift comparison of two Parquet tables (files or partitioned folders) on Dask."""
    dask = _dask()
    policy = policy or DriftPolicy()
    ref, cur = _read(ref_path), _read(cur_path)
    with client(scheduler, processes=processes, workers=workers):
        ref_sample = _sample(ref, max(policy.multivariate_rows, 50_000), policy.seed)
        cur_sample = _sample(cur, policy.multivariate_rows, policy.seed + 1)
        kinds = column_kinds(ref_sample[[c for c in ref.columns if c in cur.columns]],
                             cur_sample, policy)
        edges = reference_edges(ref_sample, kinds, policy)
        r, c = dask.compute(_summed(ref, kinds, edges), _summed(cur, kinds, edges))
    mv = _mv(ref_sample, cur_sample, kinds, policy, multivariate)
    decided, joint = decide(bn.results_from(r, c, policy), policy, mv.p_value)
    features, mv = tuple(decided), mv.judged(joint, policy)
    n_ref = next(iter(r.values())).n + next(iter(r.values())).missing if r else 0
    n_cur = next(iter(c.values())).n + next(iter(c.values())).missing if c else 0
    skipped = tuple(str(x) for x in [*ref.columns, *cur.columns] if x not in kinds)
    return DriftResult(features, mv, {"name": str(ref_path), "rows": n_ref},
                       {"name": str(cur_path), "rows": n_cur}, policy, "dask",
                       tuple(dict.fromkeys(skipped)))


def _mv(a: pd.DataFrame, b: pd.DataFrame, kinds: dict[str, str], policy: DriftPolicy,
        enabled: bool) -> MultivariateResult:
    usable = {k: v for k, v in kinds.items() if k != "prediction"}
    if not enabled or len(usable) < 2:
        return MultivariateResult("domain-classifier", None, None, None, 0,
                                  reason="not run (fewer than 2 features, or disabled)")
    xa, names = matrix(a, usable)
    xb, _ = matrix(b, usable)
    return domain_classifier(xa, xb, names, policy)
