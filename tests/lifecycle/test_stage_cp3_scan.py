"""The CP3 stage for secrets and model files: plants, catches, never runs the payload."""

from __future__ import annotations

from pathlib import Path

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import init
from cpmap.lifecycle import STAGES, Context


def test_demo_stage_plants_and_catches(tmp_path: Path) -> None:
    target = next(t for c, title, t in STAGES if t.endswith("cp3_scan:run"))
    from cpmap.lifecycle.stages import cp3_scan

    assert target == "cpmap.lifecycle.stages.cp3_scan:run"
    ws = init(tmp_path / "ws")
    work = tmp_path / "work"
    work.mkdir()
    logged: list[str] = []
    result = cp3_scan.run(Context(ws, work, logged.append))
    assert result.ok and result.control == "CP3"
    assert any("huggingface-token" in line for line in result.lines)
    token = cp3_scan.plant_env(tmp_path / "again").read_text().split("HF_TOKEN=")[1].split()[0]
    assert token not in "\n".join(result.lines + tuple(logged))
    assert not (work / "models" / "PAYLOAD_RAN").exists()
    entries = [e.summary() for e in Ledger(ws).entries(control="CP3")]
    assert [(e["kind"], e["verdict"]) for e in entries] == [
        ("secret-scan", "fail"), ("secret-scan", "pass"), ("model-scan", "fail")]
    assert "HF_TOKEN=${HF_TOKEN}" in (work / "app" / ".env").read_text()
