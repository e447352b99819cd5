"""The CP3 demo stage for dependencies, SBOM, images and access, after the CP1 stage."""

from __future__ import annotations

from pathlib import Path

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace
from cpmap.lifecycle import STAGES, DemoContext


def test_demo_stage(ws: Workspace, tmp_path: Path) -> None:
    from cpmap.provenance import demo as cp1
    from cpmap.supplychain import demo_deps

    assert ("CP3", "Supply chain: dependencies, SBOM, images, access",
            "cpmap.supplychain.demo_deps:run") in STAGES
    ctx = DemoContext(ws, tmp_path / "project", lambda _s: None)
    ctx.workdir.mkdir()
    assert cp1.run(ctx).ok
    result = demo_deps.run(ctx)
    assert result.ok, result.lines
    kinds = [e.summary()["kind"] for e in Ledger(ws).entries(control="CP3")]
    assert kinds == ["dependency-scan", "sbom", "image-scan", "access-denied", "access-review"]
    assert ctx.artifacts["sbom"].exists()
