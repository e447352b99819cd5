"""Every command that writes SARIF writes a log GitHub code scanning accepts.

Run in a repository (a directory with ``.git``): results point at repository-relative files,
never at ``model:``/``http:`` references, and pass the schema and GitHub's checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.formats.sarif_check import problems

from cpmap.cli import main
from cpmap.supplychain.osvdb import SAMPLE_DB

EVIL = b"cposix\nsystem\n(S'touch /nonexistent/x'\ntR."  # protocol 0: os.system call


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "settings.py").write_text(
        'STRIPE_KEY = "sk_live_' + "4eC39HqLyjWDarjtT1zdp7dc" + '"\n')
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "model.pkl").write_bytes(EVIL)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "people.csv").write_text(
        "name,email\nann,ann.smith@example.org\nbob,bob.jones@example.net\n"
        "eve,eve.adams@example.com\n")
    (tmp_path / "requirements.txt").write_text("requests==2.28.1\nurllib3==1.26.5\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("args", "uri"), [
    (("scan", "secrets", "src"), "src/settings.py"),
    (("scan", "model", "models"), "models/model.pkl"),
    (("privacy", "scan", "data/people.csv"), "data/people.csv"),
    (("scan", "deps", "-r", "requirements.txt", "--osv-db", str(SAMPLE_DB)), "requirements.txt"),
])
def test_command_sarif_is_github_ready(repo: Path, capsys: pytest.CaptureFixture[str],
                                       args: tuple[str, ...], uri: str) -> None:
    code, log = _run(capsys, *args, "-f", "sarif")
    assert code == 1, "each input has findings"
    assert problems(log) == []
    run = log["runs"][0]  # type: ignore[index]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in run["results"]}
    assert uris == {uri}
    for rule in run["tool"]["driver"]["rules"]:
        assert rule["fullDescription"]["text"] != rule["shortDescription"]["text"]
