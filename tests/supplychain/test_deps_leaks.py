"""``scan deps`` never echoes what it could not parse: an included ``.env`` line is a secret.

Unparsable requirement lines are named by file and line, on stderr, in the JSON and in the
ledger; URLs lose their ``user:password@``; nothing of a 1 MB line is printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace
from cpmap.supplychain.osvdb import SAMPLE_DB
from cpmap.supplychain.reqsource import parse_requirements, redact_url

from .clirun import Cli, make_cli
from .test_secrets import TOKENS

HF = TOKENS["huggingface-token"]
AWS = TOKENS["aws-secret-access-key"]
URL_PW = TOKENS["url-password"]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return make_cli(capsys)


@pytest.fixture
def leaky(tmp_path: Path) -> Path:
    (tmp_path / "secrets.env").write_text(f"HF_TOKEN={HF}\nAWS_SECRET_ACCESS_KEY={AWS}\n")
    (tmp_path / "requirements.txt").write_text(
        "requests==2.28.1\n-r secrets.env\n"
        f"mylib @ https://svc:{URL_PW}@git.internal.io/mylib-1.0.tar.gz\n"
        f"-e git+https://ci:{URL_PW}@git.internal.io/x/y.git#egg=y\n")
    return tmp_path / "requirements.txt"


def test_unparsable_lines_are_named_by_file_and_line(leaky: Path) -> None:
    skipped = parse_requirements(leaky).skipped
    names = {s.name for s in skipped}
    env = str(leaky.parent / "secrets.env")
    assert {f"{env}:1", f"{env}:2"} <= names
    text = repr(skipped)
    assert HF not in text and AWS not in text and URL_PW not in text


def test_cli_output_json_and_ledger_hold_no_planted_secret(cli: Cli, leaky: Path,
                                                          ws: Workspace) -> None:
    for fmt in ("table", "json"):
        code, out, err = cli("scan", "deps", "-r", str(leaky), "--osv-db", str(SAMPLE_DB),
                             "-f", fmt, "-w", str(ws.root))
        assert code == 1
        for secret in (HF, AWS, URL_PW):
            assert secret not in out + err
    doc = json.loads(out)
    assert any(s["name"].endswith("secrets.env:1") for s in doc["skipped"])
    entries = list(Ledger(ws).entries(control="CP3"))
    assert len(entries) == 2
    for entry in entries:
        dumped = json.dumps(entry.statement)
        assert HF not in dumped and AWS not in dumped and URL_PW not in dumped
        assert "secrets.env:2" in dumped


def test_a_huge_line_is_not_echoed(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("x" * 100 + "!" * 1_000_000 + "\n")
    code, out, err = cli("scan", "deps", "-r", str(tmp_path / "r.txt"), "--osv-db",
                         str(SAMPLE_DB), "-f", "json")
    assert code == 0 and len(out) + len(err) < 5_000
    assert json.loads(out)["skipped"][0]["name"].endswith("r.txt:1")


@pytest.mark.parametrize(("url", "shown"), [
    ("https://u:p4ss@h.io/x", "https://***@h.io/x"),
    ("git+ssh://git@h.io/x.git", "git+ssh://***@h.io/x.git"),
    ("https://h.io/x", "https://h.io/x"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_huge_line_that_parses_as_a_name_is_not_echoed(tmp_path: Path) -> None:
    """A line of letters is a valid package name to ``packaging``: a 2 MB one (and a 300
    character one) is reported by position and size, its content nowhere."""
    req = tmp_path / "requirements.txt"
    req.write_text("requests==2.28.1\n" + "a" * 2_000_000 + "\n" + "b" * 300 + "\n")
    got = parse_requirements(req)
    assert [p.name for p in got.pins] == ["requests"]
    reasons = {s.origin: s.reason for s in got.skipped}
    assert reasons[f"{req}:2"] == "a line of 2000000 characters: not a requirement"
    assert reasons[f"{req}:3"] == "a package name of 300 characters: not audited"
    assert all("aaaa" not in s.name + s.reason and "bbbb" not in s.name + s.reason
               for s in got.skipped)
