"""The CP6 stage end to end on two small digits models (mechanics, not thresholds:
the real demo's models and policy are exercised by `cpmap demo`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpmap.core.workspace import Workspace

pytestmark = pytest.mark.slow


def test_stage_registers_gates_promotes_and_rolls_back(
        ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from cpmap.core.ledger import Ledger
    from cpmap.core.workspace import open_workspace
    from cpmap.lifecycle import Artifacts, Context
    from cpmap.lifecycle.stages.cp6 import run
    from cpmap.registry.versions import aliases, list_versions
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.service import train_model

    # The data comes in unsigned through builtin:digits, and two epochs buy little robustness:
    # relax those two requirements so that the mechanics run to the end.
    monkeypatch.setenv("CPMAP_GATE_CP1_SIGNED", "false")
    monkeypatch.setenv("CPMAP_GATE_CP4_MIN_ROBUST_ACCURACY", "0.0")
    monkeypatch.setenv("CPMAP_GATE_CP4_MIN_CLEAN_ACCURACY", "0.0")
    ws = open_workspace(ws.root)
    std = train_model(ws, "builtin:digits", TrainConfig(epochs=2, seed=0), "digits_standard")
    pgd = train_model(ws, "builtin:digits", TrainConfig(epochs=2, seed=0, adversarial="pgd",
                                                        steps=3), "digits_pgd")
    ctx = Context(ws, tmp_path / "work", lambda _s: None,
                  Artifacts(digits_standard=std.version, digits_pgd=pgd.version))
    ctx.workdir.mkdir()
    result = run(ctx)
    text = "\n".join(result.lines)
    assert [v.ref for v in list_versions(ws, "digits")] == ["digits@1", "digits@2", "digits@3"]
    assert (ctx.workdir / "cards" / "digits-1.md").read_text().startswith("---\nlicense:")
    # CP6 works on staging: production needs CP7's gateway check of the staged version
    assert "promoted digits@3 (repackaged for serving) to staging" in text
    assert "rolled back staging digits@3 -> digits@" in text
    assert aliases(ws, "digits")["staging"] != 3
    assert "production" not in aliases(ws, "digits")
    kinds = {e.summary()["kind"] for e in Ledger(ws).entries(control="CP6")}
    assert {"registry-version", "model-card", "registry-promotion",
            "registry-rollback"} <= kinds
    # With both thresholds at 0 the standard model passes too: the stage says so and fails.
    assert not result.ok and "did NOT stop it" in text
    assert result.made.registry_model == "digits"
