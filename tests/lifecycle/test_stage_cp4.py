"""The CP4 stage: both digits curves in the report cell, models handed to CP5/CP6."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.mark.slow
def test_demo_stage_trains_evaluates_and_compares(ws: Any, tmp_path: Path) -> None:
    from cpmap.core.artifacts import load_object
    from cpmap.core.ledger import Ledger
    from cpmap.lifecycle import Context
    from cpmap.lifecycle.stages.cp4 import run
    from cpmap.models import get_model

    lines: list[str] = []
    ctx = Context(ws, tmp_path / "project", lines.append)
    result = run(ctx)
    assert result.ok, result.lines
    for key in ("digits_standard", "digits_pgd", "customers_model"):
        made = getattr(result.made, key)
        assert get_model(ws, made.ref).name == key
        assert get_model(ws, made.ref).digest == made.digest
    cmp = Ledger(ws).entries(kind="robustness-comparison")[-1].predicate
    m = cmp["metrics"]
    assert m["pgd.robust_accuracy@0.1"] >= m["standard.robust_accuracy@0.1"] + 0.05
    assert m["pgd.clean_accuracy"] >= 0.85
    assert load_object(ws, cmp["details"]["plots"][0]["sha256"]) is not None
    assert len(Ledger(ws).entries(kind="robustness-evaluation")) == 3
