"""The CP3 stage for dependencies, SBOM, images and access, after the CP1 stage."""

from __future__ import annotations

from pathlib import Path

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace
from cpmap.lifecycle import STAGES, Context, run


def test_demo_stage(ws: Workspace, tmp_path: Path) -> None:
    from cpmap.lifecycle.stages import cp1, cp3_deps

    assert ("CP3", "Supply chain: dependencies, SBOM, images, access",
            "cpmap.lifecycle.stages.cp3_deps:run") in STAGES
    ctx = Context(ws, tmp_path / "project", lambda _s: None)
    ctx.workdir.mkdir()
    first = cp1.run(ctx)
    assert first.ok
    result = cp3_deps.run(Context(ws, ctx.workdir, ctx.log, first.made))
    assert result.ok, result.lines
    kinds = [e.summary()["kind"] for e in Ledger(ws).entries(control="CP3")]
    assert kinds == ["dependency-scan", "sbom", "image-scan", "access-policy", "access-denied",
                     "access-review"]  # the policy is signed before its first decision
    assert result.made.sbom.exists()
    assert any("read customers-clean allowed; read raw customers denied" in line
               for line in result.lines)


def test_without_cp1_it_fails_naming_the_artifact_and_changes_nothing(
        ws: Workspace, tmp_path: Path) -> None:
    toml = (ws.dir / "cpmap.toml").read_text()
    before = len(Ledger(ws).entries())
    ctx = Context(ws, tmp_path / "project", lambda _s: None)
    (result,) = run(ctx, STAGES[2:3]).results
    assert not result.ok and result.control == "CP3"
    (line,) = result.lines
    assert "artifact customers_clean" in line and "the CP1 stage makes it" in line
    assert "--only CP1,CP3" in line
    assert (ws.dir / "cpmap.toml").read_text() == toml
    assert len(Ledger(ws).entries()) == before
