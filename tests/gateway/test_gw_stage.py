"""The CP7 stage on a registered, gated version in staging: check, promote, serve production."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_stage_checks_staging_promotes_and_shows_the_controls(ws: Any, gated: Any,
                                                               tmp_path: Path) -> None:
    from cpmap.lifecycle import Artifacts, Context
    from cpmap.lifecycle.stages.cp7 import run
    from cpmap.registry.stages import promote
    from cpmap.registry.versions import get

    promote(ws, gated.ref, stage="staging")
    result = run(Context(ws, tmp_path, lambda _: None, Artifacts(registry_model="digits")))
    text = "\n".join(result.lines)
    assert result.ok, text
    assert "no key -> 401" in text and "wrong scope -> 403" in text
    assert "PNG to a JPEG-only model -> 415" in text and "decompression bomb" in text
    assert "-> 413" in text and "exceeded -> 429" in text
    counts = result.made.gateway_counts
    assert counts["answered_before_budget"] == 384  # 400 label queries: 6 batches of 64
    assert result.made.gateway_check["passed"]
    assert get(ws, "digits@production").digest == gated.digest
