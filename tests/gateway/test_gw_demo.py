"""The CP7 demo stage on a registered, gated version: staging, check, promote, production."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_demo_stage(ws: Any, gated: Any, tmp_path: Path) -> None:
    from cpmap.gateway.demo import run
    from cpmap.lifecycle import DemoContext
    from cpmap.registry.stages import promote

    promote(ws, gated.ref)
    ctx = DemoContext(ws, tmp_path, lambda _: None, {"registry_model": "digits"})
    result = run(ctx)
    text = "\n".join(result.lines)
    assert result.ok, text
    assert "no key -> 401" in text and "wrong scope -> 403" in text
    assert "PNG to a JPEG-only model -> 415" in text and "decompression bomb" in text
    assert "-> 413" in text and "exceeded -> 429" in text
    counts = ctx.artifacts["gateway_counts"]
    assert counts["answered_before_budget"] == 384  # 400 label queries: 6 batches of 64
    assert ctx.artifacts["gateway_check"]["passed"]
