"""The CP8 lifecycle stage on a monitored production version: noise and adversarial inputs
flagged, a prober alerted and throttled, the status shown and recorded for the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cpmap.core.workspace import Workspace
from cpmap.registry.manifest import ModelVersion


def test_stage_shows_flags_alerts_and_status(ws: Workspace, version: ModelVersion,
                                             baseline: Any, tmp_path: Path) -> None:
    from cpmap.formats.report import build_map
    from cpmap.lifecycle import Artifacts, Context
    from cpmap.lifecycle.stages.cp8 import run
    from cpmap.registry.stages import promote

    promote(ws, version.ref, stage="production")
    result = run(Context(ws, tmp_path, lambda _: None, Artifacts(registry_model="digits")))
    text = "\n".join(result.lines)
    assert result.ok, text
    assert "uniform noise: " in text and "prober: alert" in text and "HTTP 429" in text
    assert "OOD:" in text and "monitor summary recorded" in text
    cell = next(c for c in build_map(ws).cells if c.control.id == "CP8")
    summary = next(k for k in cell.kinds if k.kind == "monitor-summary")
    assert summary.plots and summary.plots[0]["uri"].startswith("data:image/png;base64,")
    assert summary.metrics["predictions"] > 0 and "alerts" in summary.metrics
