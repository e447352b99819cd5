"""Streaming change detectors on confidence and OOD rate, per model and per client.

One :class:`Stream` per key (the model, and each client): river's ADWIN on the prediction's
confidence and Page-Hinkley on the OOD indicator. A change alone is not an alert; an alert
needs the change to be *sustained* and in the bad direction: after ADWIN cuts its window, the
mean confidence of the surviving window (at least ``MIN_WINDOW`` requests) must sit below the
baseline's mean by ``drop``, or the last ``MIN_WINDOW`` requests' mean below the baseline's 5%
quantile of single-row confidence (a stream that starts low has no change to detect); for the
OOD rate, Page-Hinkley's alarm must be confirmed by a binomial test of the last window against
the calibrated false-alarm rate.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from river import drift

from cpmap.monitor.probing import binomial_p

MIN_WINDOW = 50
ALPHA = 1e-4


@dataclass(frozen=True)
class Change:
    kind: str  # low-confidence | ood-rate
    message: str
    value: float
    window: int


@dataclass
class Stream:
    adwin: drift.ADWIN = field(default_factory=lambda: drift.ADWIN(delta=0.002))  # type: ignore[no-untyped-call]
    ph: drift.PageHinkley = field(default_factory=lambda: drift.PageHinkley(
        min_instances=30, delta=0.005, threshold=5.0, mode="up"))
    recent_conf: deque[float] = field(default_factory=lambda: deque(maxlen=MIN_WINDOW))
    recent_ood: deque[bool] = field(default_factory=lambda: deque(maxlen=4 * MIN_WINDOW))
    changed_conf: bool = False
    changed_ood: bool = False


class Detectors:
    """All streams of one gateway; :meth:`update` returns the sustained changes."""

    def __init__(self, confidence_mean: float, confidence_q05: float, fpr: float,
                 drop: float = 0.15) -> None:
        self.mean, self.q05, self.fpr, self.drop = confidence_mean, confidence_q05, fpr, drop
        self.streams: dict[str, Stream] = {}

    def update(self, key: str, confidence: float, ood: bool) -> list[Change]:
        s = self.streams.setdefault(key, Stream())
        s.adwin.update(confidence)  # type: ignore[no-untyped-call]
        s.ph.update(1.0 if ood else 0.0)  # type: ignore[no-untyped-call]
        s.recent_conf.append(confidence)
        s.recent_ood.append(ood)
        s.changed_conf |= s.adwin.drift_detected
        s.changed_ood |= s.ph.drift_detected
        out = []
        low = self._low(s)
        if low is not None:
            out.append(low)
        if s.changed_ood and len(s.recent_ood) >= MIN_WINDOW:
            k, n = sum(s.recent_ood), len(s.recent_ood)
            if binomial_p(k, n, max(self.fpr, 1e-4)) < ALPHA:
                s.changed_ood = False
                out.append(Change("ood-rate", f"OOD rate {k}/{n} sustained over the last "
                                  f"{n} requests (calibrated {self.fpr:.1%})", k / n, n))
        return out

    def _low(self, s: Stream) -> Change | None:
        full = len(s.recent_conf) == MIN_WINDOW
        recent = sum(s.recent_conf) / max(len(s.recent_conf), 1)
        if s.changed_conf and s.adwin.width >= MIN_WINDOW and \
                s.adwin.estimation < self.mean - self.drop:
            s.changed_conf = False
            return Change("low-confidence", f"mean confidence fell to {s.adwin.estimation:.2f}"
                          f" over {int(s.adwin.width)} requests (baseline {self.mean:.2f})",
                          float(s.adwin.estimation), int(s.adwin.width))
        if full and recent < self.q05:
            s.recent_conf.clear()
            return Change("low-confidence", f"mean confidence {recent:.2f} over the last "
                          f"{MIN_WINDOW} requests, below the baseline's 5% quantile "
                          f"{self.q05:.2f}", recent, MIN_WINDOW)
        return None
