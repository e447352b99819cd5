"""Registry, promotion and the gate on both store backends (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpmap.core.workspace import Workspace
from cpmap.gate.evaluate import evaluate
from cpmap.registry.stages import promote, rollback

from .conftest import Kit


@pytest.mark.postgres
def test_register_gate_promote_rollback(any_ws: Workspace, tmp_path: Path) -> None:
    kit = Kit(any_ws, tmp_path)
    first = kit.model(content=b"one")
    second = kit.model(content=b"two")
    for mv in (first, second):
        kit.everything(mv)
        kit.cp7(mv)
        assert evaluate(any_ws, mv).passed
        promote(any_ws, mv.ref)
    assert rollback(any_ws, "clf").version == first.version
