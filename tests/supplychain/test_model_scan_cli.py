"""``cpmap scan model DIR``: pickles without magic are found whatever their name, and files it
cannot classify are listed (table, JSON, evidence) instead of silently dropped."""

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
def project(tmp_path: Path) -> tuple[Path, Path]:
    models = tmp_path / "models"
    models.mkdir()
    canary = tmp_path / "CANARY"
    (models / "model.dill").write_bytes(pickle.dumps(_Evil(canary), protocol=0))
    (models / "notes.txt").write_bytes(pickle.dumps({"w": [1.0]}, protocol=1))
    (models / "README.md").write_text("# weights\n")
    (models / "blob").write_bytes(bytes(range(256)))
    return models, canary


def test_protocol_0_pickle_with_an_unknown_extension_is_scanned(
        project: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    models, canary = project
    code, out, err = cli(capsys, "scan", "model", str(models), "-f", "json")
    data = json.loads(out)
    verdicts = {Path(f["path"]).name: f["verdict"] for f in data["files"]}
    assert code == 1 and verdicts == {"model.dill": "malicious", "notes.txt": "safe"}
    assert data["summary"] == {"safe": 1, "suspicious": 0, "malicious": 1}
    assert {Path(u["path"]).name: u["reason"] for u in data["unclassified"]} == {
        "README.md": "text, no model format",
        "blob": "binary, no model format cpmap recognises (not scanned)"}
    assert "2 other file(s) not recognised as model files" in err
    assert not canary.exists()


def test_the_table_lists_unclassified_files(project: tuple[Path, Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    models, _ = project
    code, out, _ = cli(capsys, "scan", "model", str(models))
    assert code == 1
    assert "not recognised as model files" in out and "README.md" in out and "blob" in out


def test_a_directory_of_non_model_files_lists_them_and_records_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "weights.xyz").write_bytes(os.urandom(64))
    ws = init(tmp_path / "ws")
    code, out, err = cli(capsys, "scan", "model", str(tmp_path / "d"), "-f", "json",
                         "-w", str(ws.root))
    data = json.loads(out)
    assert code == 0 and data["files"] == [] and len(data["unclassified"]) == 1
    assert "1 other file(s) not recognised as model files" in err
    assert "no model file found: no CP3 evidence recorded" in err
    assert Ledger(ws).entries(control="CP3") == []


def test_evidence_counts_unclassified_next_to_scanned_files(
        project: tuple[Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    models, _ = project
    ws = init(tmp_path / "ws")
    assert cli(capsys, "scan", "model", str(models), "-w", str(ws.root))[0] == 1
    (entry,) = Ledger(ws).entries(control="CP3")
    assert entry.summary()["verdict"] == "fail"
    assert entry.predicate["metrics"]["files"] == 2
    assert entry.predicate["metrics"]["unclassified"] == 2
    listed = {Path(u["path"]).name for u in entry.predicate["details"]["unclassified"]}
    assert listed == {"README.md", "blob"}
