"""The CP9 demo stage on the small registered classifier (the demo runs it on the digits)."""

from __future__ import annotations

from tests.drift.conftest import Registered


def test_stage_finds_drift_on_the_shifted_slice_only_and_flags_slow_poisoning(
        reg: Registered) -> None:
    from cpmap.core.ledger import Ledger
    from cpmap.lifecycle import Artifacts, Context
    from cpmap.lifecycle.stages.cp9 import run

    work = reg.tmp / "work"
    work.mkdir()
    result = run(Context(reg.ws, work, lambda _s: None, Artifacts(registry_model="clf")))
    text = "\n".join(result.lines)
    assert result.ok, text
    assert "clean slice (200 rows)" in text and "-> no drift" in text and "-> DRIFT" in text
    assert "step-to-step tests flagged 0" in text
    kinds = [e.summary()["kind"] for e in Ledger(reg.ws).entries(control="CP9")]
    assert kinds == ["drift", "drift", "golden-run", "poisoning"]
