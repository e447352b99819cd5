"""The CP9 jobs behind ``cpmap monitor``: sides resolved, tests run, evidence recorded.

Each job is what one CLI command (or the CP10 worker, on a schedule) runs; the CLI only
parses and prints. Evidence is recorded when there is a workspace and a subject to name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.drift import models as md
from cpmap.drift.frame import Side, open_side, read_file
from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.drift.engine import DriftResult
    from cpmap.drift.policy import DriftPolicy
    from cpmap.registry.manifest import ModelVersion


def training_ref(mv: ModelVersion) -> str:
    """The registered dataset a version was trained on (its lineage's first)."""
    if not mv.lineage.datasets:
        raise InputError(f"{mv.ref}: no training dataset in its lineage; name a REFERENCE")
    d = mv.lineage.datasets[0]
    return f"{d.name}@{d.version}" if d.version else f"sha256:{d.digest}"


@dataclass(frozen=True)
class DriftJob:
    result: DriftResult
    reference: Side | None
    current: Side | None
    model: ModelVersion | None
    entry: int | None
    figures: tuple[tuple[str, bytes], ...]


def sides(ws: Workspace | None, reference: str | None, current: str | None,
          from_log: str | None, since: str | None) -> tuple[Side, Side, ModelVersion | None]:
    """The two sides (and the model they are about, for a log window)."""
    if from_log is None:
        if reference is None or current is None:
            raise InputError("give REFERENCE and CURRENT, or --from-log NAME")
        return open_side(reference, ws), open_side(current, ws), None
    if ws is None:
        raise InputError("--from-log needs a workspace (the prediction log lives there)")
    if current is not None:
        raise InputError("with --from-log the current side is the log: give at most "
                         "REFERENCE")
    from cpmap.drift.logwindow import frame

    mv = md.version(ws, from_log)
    window = frame(ws, from_log, since)
    name = f"prediction log of {from_log}" + (f" (last {since})" if since else "")
    if "_sampled" in window.columns and window["_sampled"].notna().any():
        # inputs are kept for a sampled share of requests: compare those rows (their
        # predictions too: a uniform sample of the window), not rows without inputs
        sampled = window[window["_sampled"].notna()]
        name += f": {len(sampled)} of {len(window)} rows with sampled inputs"
        window = sampled
    cur = Side(window.drop(columns=["id", "ts", "_sampled"], errors="ignore")
               .reset_index(drop=True), name)
    ref = open_side(reference or training_ref(mv), ws)
    ref_frame, cur_frame = _like(ref.frame, cur.frame)
    return Side(ref_frame, ref.name, ref.digest), Side(cur_frame, cur.name, cur.digest), mv


def _like(ref: Any, cur: Any) -> tuple[Any, Any]:
    """Both sides' shared columns typed alike: JSON carries whole numbers as floats (0.0) and a
    CSV column of whole numbers reads as integers (0); compared as categories, "0.0" and "0"
    would differ. Whole-number log values become integers; otherwise the reference's
    integers become floats."""
    import pandas as pd

    ref, cur = ref.copy(), cur.copy()
    for col in ref.columns:
        if col not in cur.columns or not pd.api.types.is_integer_dtype(ref[col]):
            continue
        values = pd.to_numeric(cur[col], errors="coerce")
        known = values.dropna()
        if bool((known == known.round()).all()):
            cur[col] = values.round().astype("Int64")
        else:
            ref[col], cur[col] = ref[col].astype(np.float64), values
    return ref, cur


def drift(ws: Workspace | None, reference: str | None, current: str | None,
          policy: DriftPolicy, *, from_log: str | None = None, since: str | None = None,
          model: str | None = None, engine: str = "memory", scheduler: str | None = None,
          processes: bool = True, plots: bool = True, max_plots: int = 24) -> DriftJob:
    """Run one drift comparison; record it; the figures of the drifted features."""
    from cpmap.drift.engine import compare
    from cpmap.drift.page import figures

    mv = md.version(ws, model) if model is not None and ws is not None else None
    if model is not None and ws is None:
        raise InputError("--model needs a workspace")
    if engine == "dask":
        from cpmap.drift.dask_engine import compare_parquet

        if from_log or reference is None or current is None:
            raise InputError("--engine dask compares two Parquet tables: give REFERENCE and "
                             "CURRENT paths")
        result = compare_parquet(Path(reference), Path(current), policy, scheduler=scheduler,
                                 processes=processes)
        ref = cur = None
    elif engine == "memory":
        ref, cur, log_mv = sides(ws, reference, current, from_log, since)
        mv = mv or log_mv
        result = compare(ref, cur, policy)
    else:
        raise InputError(f"--engine {engine!r}: use memory or dask")
    pngs = (tuple(figures(result, ref.frame, cur.frame, max_plots)) if plots and ref and cur
            else ())
    entry = _record(ws, result, mv, pngs)
    return DriftJob(result, ref, cur, mv, entry, pngs)


def _record(ws: Workspace | None, result: DriftResult, mv: ModelVersion | None,
            pngs: tuple[tuple[str, bytes], ...]) -> int | None:
    if ws is None:
        return None
    from cpmap.core.artifacts import save_bytes
    from cpmap.core.predicate import Plot
    from cpmap.drift.evidence import record_drift

    plots = [Plot(save_bytes(ws, b), t) for t, b in pngs[:8]]
    entry = record_drift(ws, result, mv, plots)
    return None if entry is None else entry.index


def read_labels(path: Path) -> dict[tuple[str, int], str]:
    """Delayed ground truth: ``id`` and ``label`` columns (``row`` for batched requests)."""
    frame = read_file(path)
    if "id" not in frame.columns or "label" not in frame.columns:
        raise InputError(f"{path}: needs columns id and label (found "
                         f"{list(frame.columns)[:8]})")
    rows = frame["row"] if "row" in frame.columns else [0] * len(frame)
    return {(str(i), int(r)): str(v) for i, r, v in zip(frame["id"], rows, frame["label"],
                                                        strict=True)}


def classes_of(model: Any) -> tuple[str, ...]:
    meta = dict(getattr(model, "meta", {}) or {})
    return tuple(str(c) for c in meta.get("classes") or range(model.n_classes))


def as_array(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)
