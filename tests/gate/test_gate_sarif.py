"""The gate's SARIF is one GitHub code scanning accepts: policy results point at cpmap.toml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.formats.sarif_check import problems

from cpmap.cli import main

from .conftest import Kit


def _gate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        main(["gate", *args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().out


def test_failed_gate_sarif_is_github_ready(kit: Kit, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (kit.ws.root / ".git").mkdir()
    monkeypatch.chdir(kit.ws.root)
    mv = kit.model()
    kit.everything(mv, robust=0.0)
    code, out = _gate(capsys, mv.ref, "-f", "sarif", "-w", str(kit.ws.root))
    log = json.loads(out)
    assert code == 1 and problems(log) == []
    (result,) = log["runs"][0]["results"]
    loc = result["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"] == {
        "uri": ".cpmap/cpmap.toml", "uriBaseId": "%SRCROOT%"}
    assert {"name": f"model:{mv.ref}"} in loc["logicalLocations"]
    (rule,) = log["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == "cpmap.gate.CP4" and "CP4" in rule["fullDescription"]["text"]


def test_gate_sarif_from_outside_the_repo_uses_a_file_uri(
        kit: Kit, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere: Path = tmp_path_factory.mktemp("ci")
    (elsewhere / ".git").mkdir()
    monkeypatch.chdir(elsewhere)
    mv = kit.model()
    kit.everything(mv, robust=0.0)
    log = json.loads(_gate(capsys, mv.ref, "-f", "sarif", "-w", str(kit.ws.root))[1])
    assert problems(log) == []
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri["uri"].startswith("file:///") and uri["uri"].endswith("/.cpmap/cpmap.toml")
