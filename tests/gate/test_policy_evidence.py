"""The effective gate policy, CPMAP_* overrides included, is signed into promotion evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import open_workspace
from cpmap.gate.policy import load as load_policy
from cpmap.registry.stages import GateFailed, promote

from .conftest import Kit


def _last(ws: Any, kind: str) -> dict[str, Any]:
    details: dict[str, Any] = Ledger(ws).entries(kind=kind)[-1].predicate["details"]
    return details


def test_promotion_records_the_effective_policy(ws: Any, tmp_path: Path) -> None:
    kit = Kit(ws, tmp_path)
    mv = kit.model()
    kit.everything(mv)
    kit.cp7(mv)  # production needs a gateway check
    promote(ws, mv.ref)
    details = _last(ws, "registry-promotion")
    assert details["policy"] == load_policy(ws).to_dict()
    assert details["policy_overrides"] == {} and len(details["policy_sha256"]) == 64


def test_environment_override_is_visible_in_refused_promotion(
        ws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kit = Kit(ws, tmp_path)
    mv = kit.model()
    kit.everything(mv, robust=0.7)
    kit.cp7(mv)  # production needs a gateway check
    monkeypatch.setenv("CPMAP_GATE_CP4_MIN_ROBUST_ACCURACY", "0.9")
    overridden = open_workspace(ws.root)
    with pytest.raises(GateFailed):
        promote(overridden, mv.ref)
    details = _last(overridden, "registry-promotion-refused")
    assert details["policy_overrides"] == {"CP4.min_robust_accuracy": 0.9}
    assert details["policy"]["CP4"]["min_robust_accuracy"] == 0.9
    assert any("overrides CP4.min_robust_accuracy=0.9" in h for h in details["highlights"])
