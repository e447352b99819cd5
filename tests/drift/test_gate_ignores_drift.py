"""Failing drift evidence alerts but does not block the version (the golden set gates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tests.drift.conftest import Registered

from cpmap.drift.engine import compare
from cpmap.drift.evidence import record_drift
from cpmap.drift.frame import Side


def test_failing_drift_evidence_does_not_block_the_gate(reg: Registered) -> None:
    from cpmap.gate.evaluate import evaluate

    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"a": rng.normal(size=500)})
    result = compare(Side(ref, "r"), Side(ref + 1.0, "c"), multivariate=False)
    assert result.drift
    assert record_drift(reg.ws, result, reg.mv) is not None
    cp9 = evaluate(reg.ws, reg.mv).control("CP9")
    assert cp9.status == "not-required" and not cp9.blocking
