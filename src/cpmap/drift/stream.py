"""Live drift detectors on the gateway's feature summaries and outputs (river).

:class:`StreamMonitor` keeps one ADWIN detector (Bifet & Gavalda 2007: an adaptive window
that drops its old part when the two halves' means differ beyond a Hoeffding-style bound) per
feature summary (the mean of each request's rows), and a Page-Hinkley test on the top-class
confidence of the outputs, so a gradual fall in confidence alarms too. Feeding it costs a few
microseconds per value; the gateway (CP8) calls :meth:`observe` after answering, and a caller
turns alarms into signed CP9 ``drift`` evidence with :func:`record_alarm`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.core.evidence import Evidence, Subject, record
from cpmap.core.findings import Finding, Location, Severity, Verdict
from cpmap.drift.evidence import DRIFT_TAGS
from cpmap.drift.predicates import DriftReport

if TYPE_CHECKING:
    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace


@dataclass(frozen=True)
class Alarm:
    """A detector that fired: which signal, after how many observations, its mean now."""

    signal: str
    detector: str
    seen: int
    estimate: float


class StreamMonitor:
    """ADWIN per feature summary, Page-Hinkley on confidence; alarms go to ``on_alarm``."""

    def __init__(self, features: Sequence[str], *, delta: float = 0.002,
                 ph_threshold: float = 5.0, ph_delta: float = 0.005, min_seen: int = 30,
                 on_alarm: Callable[[Alarm], None] | None = None) -> None:
        import importlib

        drift: Any = importlib.import_module("river.drift")  # untyped library

        self.names = tuple(features)
        self._adwin: list[Any] = [drift.ADWIN(delta=delta) for _ in self.names]
        # mode "down": a confidence that falls is the alarm; one that rises is not
        self._ph: Any = drift.PageHinkley(min_instances=min_seen, delta=ph_delta,
                                     threshold=ph_threshold, mode="down")
        self.seen = 0
        self.alarms: list[Alarm] = []
        self._on_alarm = on_alarm
        self._min_seen = min_seen

    def observe(self, rows: np.ndarray, probs: np.ndarray | None = None) -> list[Alarm]:
        """Feed one request: ``rows`` [n, d] inputs, ``probs`` [n, k] outputs."""
        self.seen += 1
        fired: list[Alarm] = []
        summary = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1).mean(axis=0)
        for name, det, value in zip(self.names, self._adwin, summary, strict=False):
            det.update(float(value))
            if det.drift_detected and self.seen >= self._min_seen:
                fired.append(Alarm(name, "adwin", self.seen, float(det.estimation)))
        if probs is not None and len(probs):
            conf = float(np.asarray(probs, dtype=np.float64).max(axis=1).mean())
            self._ph.update(conf)
            if self._ph.drift_detected:
                fired.append(Alarm("confidence", "page-hinkley", self.seen, conf))
        for a in fired:
            self.alarms.append(a)
            if self._on_alarm is not None:
                self._on_alarm(a)
        return fired


def record_alarm(ws: Workspace, model_ref: str, digest: str, alarms: Sequence[Alarm]
                 ) -> Entry | None:
    """One failing CP9 ``drift`` entry (source ``stream``) for a burst of alarms."""
    if not alarms:
        return None
    findings = tuple(Finding("CP9-DRIFT-STREAM", Severity.MEDIUM,
                             f"{a.detector} on {a.signal}: change after {a.seen} requests "
                             f"(mean now {a.estimate:.4g})", Location(model_ref, field=a.signal),
                             "Run `cpmap monitor drift` on the recent window to confirm.",
                             DRIFT_TAGS) for a in alarms)
    results: tuple[dict[str, Any], ...] = tuple(
        {"name": a.signal, "test": a.detector, "statistic": a.estimate, "p_value": None,
         "effect": None, "drift": True, "seen": a.seen} for a in alarms)
    pred = DriftReport(verdict=Verdict.FAIL, findings=findings, features=len(alarms),
                       drifted=len(alarms), source="stream", engine="river",
                       current=f"live traffic of {model_ref}", results=results,
                       highlights=tuple(f"{a.detector}: {a.signal} changed" for a in alarms))
    return record(Evidence.of(pred, [Subject(model_ref, digest)]), ws)
