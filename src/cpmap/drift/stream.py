"""Live drift detectors on the gateway's feature summaries and outputs (river).

:class:`StreamMonitor` keeps one ADWIN detector (Bifet & Gavalda 2007: an adaptive window
that drops its old part when the two halves' means differ beyond a Hoeffding-style bound) per
feature summary (the mean of each request's rows) and per class share of the predictions (the
prediction distribution), and a Page-Hinkley test on the top-class confidence of the outputs,
so a gradual fall in confidence alarms too. Feeding it costs a few microseconds per value.

:class:`LiveDrift` runs it off the request path: the gateway hands each answered request's
rows to the prediction log writer (:mod:`cpmap.drift.live`), whose thread summarises them
before the batch is written and feeds the detectors once the batch is committed; alarms
become signed, failing CP9 ``drift`` evidence (source ``stream``, tagged AML.T0031) with
:func:`record_alarm`, at most one entry per ``cooldown_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
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
        self._shares: list[Any] = []  # ADWIN per class share, made on the first outputs
        self._new_adwin: Callable[[], Any] = lambda: drift.ADWIN(delta=delta)
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
            fired += self._classes(np.asarray(probs, dtype=np.float64))
            conf = float(np.asarray(probs, dtype=np.float64).max(axis=1).mean())
            self._ph.update(conf)
            if self._ph.drift_detected:
                fired.append(Alarm("confidence", "page-hinkley", self.seen, conf))
        for a in fired:
            self.alarms.append(a)
            if self._on_alarm is not None:
                self._on_alarm(a)
        return fired

    def _classes(self, probs: np.ndarray) -> list[Alarm]:
        """ADWIN on each class's share of this request's predictions."""
        if not self._shares:
            self._shares = [self._new_adwin() for _ in range(probs.shape[1])]
        shares = np.bincount(probs.argmax(axis=1), minlength=len(self._shares)) / len(probs)
        fired = []
        for c, (det, share) in enumerate(zip(self._shares, shares, strict=False)):
            det.update(float(share))
            if det.drift_detected and self.seen >= self._min_seen:
                fired.append(Alarm(f"prediction={c}", "adwin", self.seen,
                                   float(det.estimation)))
        return fired


class LiveDrift:
    """The detectors of one served version, fed by the prediction log writer's thread."""

    def __init__(self, ws: Workspace, ref: str, digest: str, features: Sequence[str],
                 n_classes: int, cooldown_s: float = 600.0, **detector: Any) -> None:
        self.ws, self.ref, self.digest, self.cooldown_s = ws, ref, digest, cooldown_s
        self.n_classes = n_classes
        self.monitor = StreamMonitor(features, **detector)
        self._summaries: dict[int, np.ndarray] = {}
        self._last = float("-inf")
        self.pending: list[Alarm] = []  # alarms within the cooldown, recorded with the next
        self.entries: list[int] = []

    def prepare(self, entries: list[dict[str, Any]]) -> None:
        """Before the batch is written: each request's per-feature mean (rows leave here)."""
        from cpmap.drift.sampling import PRIVATE_KEY

        for e in entries:
            rows = e.get(PRIVATE_KEY)
            if rows is not None and len(rows):
                x = np.asarray(rows, dtype=np.float64)
                self._summaries[int(e.get("seq", 0))] = x.reshape(len(x), -1).mean(axis=0)

    def consume(self, entries: list[dict[str, Any]]) -> None:
        """After the batch is committed: feed the detectors in request order; record alarms."""
        for e in entries:
            summary = self._summaries.pop(int(e.get("seq", 0)), None)
            conf = e.get("confidence")
            if summary is None or int(e.get("status", 200)) >= 400:
                continue
            self.pending += self.monitor.observe(summary[None, :],
                                                 _probs(e, conf, self.n_classes))
        if self.pending and time.monotonic() - self._last >= self.cooldown_s:
            entry = record_alarm(self.ws, self.ref, self.digest, self.pending)
            if entry is not None:
                self.entries.append(entry.index)
            self.pending, self._last = [], time.monotonic()


def _probs(e: Mapping[str, Any], conf: Any, k: int) -> np.ndarray | None:
    """A [n, k] stand-in for the outputs: one-hot predictions scaled by their confidence (the
    log keeps the predicted class and its probability, which is what the detectors read)."""
    preds = e.get("predictions")
    if (not isinstance(preds, list) or not isinstance(conf, list) or not preds
            or len(conf) != len(preds) or max(preds) >= k):
        return None
    out = np.zeros((len(preds), k))
    out[np.arange(len(preds)), np.asarray(preds, dtype=np.int64)] = np.asarray(conf, float)
    return out


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
