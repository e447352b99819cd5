"""Performance over time: logged predictions joined with delayed labels, per window.

Each window's accuracy is tested against the version's validation figure with a one-sided
exact binomial test (H0: accuracy >= the figure), the windows' p-values corrected with
Benjamini-Hochberg, and a window alerts only when the drop is significant *and* at least
``min_drop``: five requests with three right is not an alert, a thousand with 85% against 95%
is. Macro F1 and per-class recall are reported for each window. Without labels, the
confidence-based estimate (the mean top probability is the expected accuracy of a calibrated
model, the idea behind NannyML's CBPE) is reported and marked as an estimate; it warns, it
never fails on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from cpmap.drift.golden import scores, wilson_lower


@dataclass(frozen=True)
class Window:
    start: float
    rows: int
    accuracy: float | None
    accuracy_lower: float | None
    macro_f1: float | None
    recall: Mapping[str, float]
    p_value: float | None
    p_adjusted: float | None = None
    dropped: bool = False
    estimated: bool = False

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {"start": self.start, "rows": self.rows, "accuracy": r(self.accuracy),
                "accuracy_lower_95": r(self.accuracy_lower), "macro_f1": r(self.macro_f1),
                "per_class_recall": dict(self.recall), "p_value": self.p_value,
                "p_adjusted": self.p_adjusted, "dropped": self.dropped,
                "estimated": self.estimated}


@dataclass(frozen=True)
class PerformanceResult:
    windows: tuple[Window, ...]
    baseline: float | None
    baseline_source: str
    estimated: bool
    alpha: float
    min_drop: float

    @property
    def dropped(self) -> list[Window]:
        return [w for w in self.windows if w.dropped]

    def to_dict(self) -> dict[str, Any]:
        return {"estimated": self.estimated, "baseline_accuracy": self.baseline,
                "baseline": self.baseline_source, "alpha": self.alpha,
                "min_drop": self.min_drop, "dropped_windows": len(self.dropped),
                "windows": [w.to_dict() for w in self.windows]}


def _bins(ts: np.ndarray, window_s: float) -> np.ndarray:
    start = np.floor(ts.min() / window_s) * window_s if len(ts) else 0.0
    return np.floor((ts - start) / window_s).astype(np.int64)


def labelled(pred: np.ndarray, y: np.ndarray, ts: np.ndarray, classes: Sequence[str],
             baseline: float | None, window_s: float, *, alpha: float = 0.05,
             min_drop: float = 0.02, min_rows: int = 30, source: str = "") -> PerformanceResult:
    """Windows of labelled predictions against ``baseline`` (None: report only)."""
    wins: list[Window] = []
    idx = _bins(ts, window_s)
    for b in np.unique(idx):
        m = idx == b
        n, k = int(m.sum()), int(np.sum(pred[m] == y[m]))
        acc, f1, rec = scores(y[m], pred[m], tuple(classes))
        p = None
        if baseline is not None and n >= min_rows:
            p = float(stats.binomtest(k, n, min(max(baseline, 1e-9), 1 - 1e-9),
                                      alternative="less").pvalue)
        wins.append(Window(float(ts[m].min()), n, acc, wilson_lower(k, n), f1, rec, p))
    return PerformanceResult(tuple(_decide(wins, baseline, alpha, min_drop)), baseline, source,
                             False, alpha, min_drop)


def _decide(wins: list[Window], baseline: float | None, alpha: float,
            min_drop: float) -> list[Window]:
    tested = [i for i, w in enumerate(wins) if w.p_value is not None]
    if not tested or baseline is None:
        return wins
    adj = stats.false_discovery_control([wins[i].p_value for i in tested], method="bh")
    out = list(wins)
    for i, q in zip(tested, adj, strict=True):
        w = wins[i]
        big = w.accuracy is not None and baseline - w.accuracy >= min_drop
        out[i] = Window(**{**w.__dict__, "p_adjusted": float(f"{q:.6g}"),
                           "dropped": bool(q < alpha and big)})
    return out


def estimated(confidence: np.ndarray, ts: np.ndarray, baseline: float | None,
              window_s: float, *, min_drop: float = 0.02, min_rows: int = 30,
              source: str = "") -> PerformanceResult:
    """The label-free estimate per window: expected accuracy = mean top probability."""
    wins = []
    idx = _bins(ts, window_s)
    for b in np.unique(idx):
        m = idx == b
        n = int(m.sum())
        est = float(np.mean(confidence[m])) if n >= min_rows else None
        low = baseline is not None and est is not None and baseline - est >= min_drop
        wins.append(Window(float(ts[m].min()), n, est, None, None, {}, None, None, low, True))
    return PerformanceResult(tuple(wins), baseline, source, True, 0.0, min_drop)


def join(entries: Sequence[Mapping[str, Any]], labels: Mapping[tuple[str, int], str],
         classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(predictions, labels, timestamps, unmatched labels) for log entries with a label."""
    index = {c: i for i, c in enumerate(classes)}
    index.update({str(i): i for i in range(len(classes)) if str(i) not in index})
    pred, y, ts, used = [], [], [], set()
    for e in entries:
        for row, p in enumerate(e.get("predictions") or []):
            key = (str(e.get("id")), row)
            if key in labels and labels[key] in index:
                pred.append(int(p))
                y.append(index[labels[key]])
                ts.append(float(e.get("ts") or 0))
                used.add(key)
    return (np.asarray(pred, np.int64), np.asarray(y, np.int64), np.asarray(ts, np.float64),
            len(set(labels) - used))
