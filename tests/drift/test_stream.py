"""The live detectors: ADWIN on feature summaries, Page-Hinkley on falling confidence; an
alarm becomes a failing CP9 drift entry about the served version."""

from __future__ import annotations

import numpy as np
from tests.drift.conftest import Registered

from cpmap.core.ledger import Ledger
from cpmap.drift.stream import StreamMonitor, record_alarm


def _feed(monitor: StreamMonitor, n: int, shift_at: int | None, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    fired = []
    for i in range(n):
        late = shift_at is not None and i >= shift_at
        x = rng.normal(size=(4, 2)) + np.array([1.5 if late else 0.0, 0.0])
        conf = 0.6 if late else 0.9
        if monitor.observe(x, np.array([[conf, 1 - conf]])):
            fired.append(i)
    return fired


def test_a_shift_alarms_soon_after_it_happens_and_clean_traffic_does_not() -> None:
    seen: list[str] = []
    m = StreamMonitor(["a", "b"], on_alarm=lambda a: seen.append(a.signal))
    fired = _feed(m, 600, 300)
    assert fired and 300 <= fired[0] < 360
    assert {"a", "confidence"} <= set(seen) and "b" not in seen
    assert not _feed(StreamMonitor(["a", "b"]), 600, None, seed=1)


def test_an_alarm_is_signed_drift_evidence(reg: Registered) -> None:
    m = StreamMonitor(["a", "b"])
    _feed(m, 400, 200)
    entry = record_alarm(reg.ws, reg.mv.ref, reg.mv.digest, m.alarms)
    assert entry is not None
    got = Ledger(reg.ws).get(entry.index).predicate
    assert got["verdict"] == "fail" and got["details"]["source"] == "stream"
    assert record_alarm(reg.ws, reg.mv.ref, reg.mv.digest, []) is None
