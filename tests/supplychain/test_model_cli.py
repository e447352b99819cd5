"""``cpmap scan model``: exit codes, JSON/SARIF shapes, evidence."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import init

from .clirun import run_cli as cli


class _Evil:
    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.canary}",)


@pytest.fixture
def models(tmp_path: Path) -> tuple[Path, Path, Path]:
    import numpy as np
    from safetensors.numpy import save_file

    good = tmp_path / "m" / "good.safetensors"
    good.parent.mkdir()
    save_file({"w": np.ones((2, 2), dtype=np.float32)}, str(good))
    canary = tmp_path / "CANARY"
    evil = tmp_path / "m" / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Evil(canary)))
    return good, evil, canary


def test_exit_codes(models: tuple[Path, Path, Path], tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    good, evil, canary = models
    assert cli(capsys, "scan", "model", str(good))[0] == 0
    code, out, _ = cli(capsys, "scan", "model", str(evil))
    assert code == 1 and "malicious" in out
    assert cli(capsys, "scan", "model", str(tmp_path / "missing.pt"))[0] == 2
    assert not canary.exists()


def test_json_and_sarif(models: tuple[Path, Path, Path],
                        capsys: pytest.CaptureFixture[str]) -> None:
    good, evil, _ = models
    code, out, _ = cli(capsys, "scan", "model", str(good.parent), "-f", "json")
    data = json.loads(out)
    assert code == 1 and data["summary"] == {"safe": 1, "suspicious": 0, "malicious": 1}
    by_name = {Path(f["path"]).name: f for f in data["files"]}
    assert by_name["evil.pkl"]["verdict"] == "malicious"
    assert by_name["evil.pkl"]["globals"] == ["posix.system"]
    assert by_name["good.safetensors"]["format"] == "safetensors"
    sarif = json.loads(cli(capsys, "scan", "model", str(evil), "-f", "sarif")[1])
    results = sarif["runs"][0]["results"]
    assert results and results[0]["level"] == "error"
    assert results[0]["ruleId"] == "model/global-malicious"


def test_evidence_is_recorded(models: tuple[Path, Path, Path], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    good, evil, _ = models
    ws = init(tmp_path / "ws")
    assert cli(capsys, "scan", "model", str(good), str(evil), "-w", str(ws.root))[0] == 1
    (entry,) = Ledger(ws).entries(control="CP3")
    summary = entry.summary()
    assert summary["verdict"] == "fail" and summary["kind"] == "model-scan"
