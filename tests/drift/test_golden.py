"""Golden sets: signed CP1 registration, runs recorded as evidence, the CP9 gate requirement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.drift.conftest import Registered, blobs, write_npz

from cpmap.core.ledger import Ledger
from cpmap.drift import golden
from cpmap.errors import InputError


def _gate(ws: Any, mv: Any, monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    from cpmap.core.workspace import open_workspace
    from cpmap.gate.evaluate import evaluate

    for k, v in env.items():
        monkeypatch.setenv(f"CPMAP_GATE_CP9_{k}", v)
    fresh = open_workspace(ws.root)
    result = evaluate(fresh, mv, stage="production")
    return next(c for c in result.controls if c.control == "CP9")


def test_register_signs_and_registers_a_cp1_dataset(reg: Registered) -> None:
    x, y = blobs(200, 7)
    dv = golden.register(reg.ws, "clf-golden", write_npz(reg.tmp / "g.npz", x, y))
    kinds = [e.summary()["kind"] for e in Ledger(reg.ws).entries(digest=dv.digest)]
    assert "data-signature" in kinds and "dataset-registration" in kinds
    assert Path(dv.path).parent.name == "golden" and dv.ref == "clf-golden@1"
    with pytest.raises(InputError, match="nope.npz"):
        golden.register(reg.ws, "clf-golden", reg.tmp / "nope.npz")


def test_a_passing_run_satisfies_the_gate_and_a_drop_fails_it(
        reg: Registered, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = _gate(reg.ws, reg.mv, monkeypatch, REQUIRED="true")
    assert missing.status != "pass" and "golden" in missing.reasons[0]
    x, y = blobs(300, 7)
    golden.register(reg.ws, "clf-golden", write_npz(reg.tmp / "g.npz", x, y))
    first = golden.run(reg.ws, "clf")
    assert first.passed and first.rows == 300 and first.accuracy > 0.8 and first.entry
    assert _gate(reg.ws, reg.mv, monkeypatch).status == "pass"
    # a relabelled golden set v2: the version now falls far below its first run's figure
    bad = np.where(np.random.default_rng(0).random(300) < 0.4, (y + 1) % 3, y)
    golden.register(reg.ws, "clf-golden", write_npz(reg.tmp / "g2.npz", x, bad))
    second = golden.run(reg.ws, "clf@1")
    assert not second.passed and second.reference is not None
    assert "more than 0.05 below" in second.reasons[0]
    blocked = _gate(reg.ws, reg.mv, monkeypatch)
    assert blocked.status == "fail" and "failed" in blocked.reasons[0]


def test_an_old_run_does_not_count(reg: Registered, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = blobs(300, 7)
    golden.register(reg.ws, "clf-golden", write_npz(reg.tmp / "g.npz", x, y))
    assert golden.run(reg.ws, "clf").passed
    stale = _gate(reg.ws, reg.mv, monkeypatch, REQUIRED="true", MAX_AGE_DAYS="0")
    assert stale.status == "fail" and "days old" in stale.reasons[0]


def test_golden_run_needs_a_golden_set(reg: Registered) -> None:
    with pytest.raises(InputError, match="clf-golden"):
        golden.run(reg.ws, "clf")


def test_production_needs_a_golden_run_by_default_and_the_policy_can_relax_it(
        reg: Registered, monkeypatch: pytest.MonkeyPatch) -> None:
    from cpmap.core.workspace import open_workspace
    from cpmap.gate.evaluate import evaluate

    fresh = open_workspace(reg.ws.root)
    staging = next(c for c in evaluate(fresh, reg.mv, stage="staging").controls
                   if c.control == "CP9")
    assert staging.status == "not-required"  # staging never needs it
    default = _gate(reg.ws, reg.mv, monkeypatch)
    assert default.status == "missing" and "golden" in default.reasons[0]
    assert _gate(reg.ws, reg.mv, monkeypatch, REQUIRED_FOR="[]").status == "not-required"
