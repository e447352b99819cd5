"""``cpmap monitor performance``: the prediction log joined with delayed labels, recorded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cpmap.core.evidence import Evidence, Subject, record
from cpmap.core.findings import Finding, Location, Severity, Verdict
from cpmap.drift import models as md
from cpmap.drift.evidence import DRIFT_TAGS
from cpmap.drift.jobs import classes_of, read_labels
from cpmap.drift.logwindow import entries, parse_since
from cpmap.drift.performance import PerformanceResult, estimated, join, labelled
from cpmap.drift.predicates import PerformanceReport
from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.registry.manifest import ModelVersion


@dataclass(frozen=True)
class PerformanceJob:
    result: PerformanceResult
    model: str
    unmatched: int
    entry: int


def run(ws: Workspace, name: str, labels: Path | None, *, since: str | None = None,
        window: str = "1h", alpha: float = 0.05, min_drop: float = 0.02,
        min_rows: int = 30) -> PerformanceJob:
    mv = md.version(ws, name)
    model = md.load(ws, mv)
    classes = classes_of(model)
    logged = entries(ws, mv.name, since)
    figure = md.validation_figure(ws, mv)
    base, source = (figure.accuracy, figure.source) if figure else (None, "none recorded")
    width = parse_since(window)
    unmatched = 0
    if labels is not None:
        pred, y, ts, unmatched = join(logged, read_labels(labels), classes)
        if not len(pred):
            raise InputError(f"{labels}: no label matches a logged prediction of {name} "
                             "(by request id)")
        result = labelled(pred, y, ts, classes, base, width, alpha=alpha, min_drop=min_drop,
                          min_rows=min_rows, source=source)
    else:
        conf = [(c, float(e.get("ts") or 0)) for e in logged for c in e.get("confidence") or []]
        if not conf:
            raise InputError(f"prediction log of {name}: no logged confidences to estimate "
                             "from; give --labels FILE")
        result = estimated(np.array([c for c, _ in conf]), np.array([t for _, t in conf]),
                           base, width, min_drop=min_drop, min_rows=min_rows, source=source)
    entry = _record(ws, mv, result)
    return PerformanceJob(result, mv.ref, unmatched, entry)


def _record(ws: Workspace, mv: ModelVersion, r: PerformanceResult) -> int:
    from cpmap.core.artifacts import save_bytes
    from cpmap.core.predicate import Plot
    from cpmap.drift.plots import png, series_figure

    accs = [w.accuracy if w.accuracy is not None else float("nan") for w in r.windows]
    label = "estimated accuracy" if r.estimated else "accuracy"
    fig = series_figure(f"{label} per window", [f"w{i + 1}" for i in range(len(accs))],
                        {label: accs}, r.baseline, "accuracy")
    plot = Plot(save_bytes(ws, png(fig)), f"{label} per window")
    dropped = r.dropped
    findings = tuple(Finding("CP9-PERF-ESTIMATE" if r.estimated else "CP9-PERF-DROP",
                             Severity.LOW if r.estimated else Severity.HIGH,
                             f"window starting {w.start:.0f}: {label} {w.accuracy:.3f} vs "
                             f"{r.baseline:.3f} over {w.rows} rows"
                             + ("" if r.estimated else f" (p={w.p_adjusted:.3g} adjusted)"),
                             Location(mv.ref),
                             "Check for drift; retrain when the drop is real.", DRIFT_TAGS)
                     for w in dropped if w.accuracy is not None and r.baseline is not None)
    verdict = (Verdict.WARN if r.estimated else Verdict.FAIL) if dropped else Verdict.PASS
    rows = sum(w.rows for w in r.windows)
    overall = [w.accuracy for w in r.windows if w.accuracy is not None]
    highlights = (f"{len(r.windows)} window(s), {rows} rows"
                  + (" (ESTIMATE from confidence, no labels)" if r.estimated else " labelled"),
                  f"baseline {r.baseline if r.baseline is not None else '-'} ({r.baseline_source})",
                  f"{len(dropped)} window(s) with a significant drop" if not r.estimated
                  else f"{len(dropped)} window(s) estimated below the baseline")
    f1s = [w.macro_f1 for w in r.windows if w.macro_f1 is not None]
    pred = PerformanceReport(
        verdict=verdict, findings=findings, highlights=highlights, plots=(plot,),
        windows=len(r.windows), labelled=0 if r.estimated else rows,
        accuracy=round(float(np.average(overall, weights=[w.rows for w in r.windows
                                                          if w.accuracy is not None])), 6)
        if overall else None,
        macro_f1=round(float(np.mean(f1s)), 6) if f1s else None,
        baseline_accuracy=r.baseline, dropped_windows=len(dropped), estimated=r.estimated,
        baseline=r.baseline_source, rows=tuple(w.to_dict() for w in r.windows[:200]))
    subjects = [Subject(mv.ref, mv.digest)]
    return record(Evidence.of(pred, subjects), ws).index
