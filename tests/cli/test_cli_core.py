"""The CLI end to end, as a user runs it: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cpmap(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "cpmap", *args], capture_output=True,
                          text=True, cwd=cwd, env=full_env, timeout=300)


def _no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stdout + r.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    r = cpmap("init", str(tmp_path / "proj"))
    assert r.returncode == 0, r.stderr
    data = tmp_path / "proj" / "data"
    data.mkdir()
    (data / "x.csv").write_text("id,name\n1,a\n2,b\n")
    (data / "y.txt").write_text("hello\n")
    return tmp_path / "proj"


def test_data_sign_verify_and_tamper(project: Path) -> None:
    r = cpmap("data", "sign", "data", "-o", "att.json", cwd=project)
    assert r.returncode == 0, r.stderr
    r = cpmap("data", "verify", "data", "--attestation", "att.json", "-f", "json", cwd=project)
    assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True
    (project / "data" / "y.txt").write_text("HELLO\n")
    (project / "data" / "z.txt").write_text("new\n")
    (project / "data" / "x.csv").unlink()
    r = cpmap("data", "verify", "data", "--attestation", "att.json", "-f", "json", cwd=project)
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert (out["modified"], out["missing"], out["added"]) == (["y.txt"], ["x.csv"], ["z.txt"])
    _no_traceback(r)


def test_fingerprint_statement(project: Path) -> None:
    r = cpmap("data", "fingerprint", "data/x.csv", cwd=project)
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicate"]["table"]["rows"] == 2


def test_register_lineage_and_ledger(project: Path, tmp_path: Path) -> None:
    assert cpmap("data", "register", "x", "data/x.csv", cwd=project).returncode == 0
    r = cpmap("data", "register", "w", "data/y.txt", "--source", "ftp://elsewhere/y",
              cwd=project)
    assert r.returncode == 1 and "trusted sources" in r.stderr
    _no_traceback(r)
    r = cpmap("data", "lineage", "x", "-f", "json", cwd=project)
    assert json.loads(r.stdout)["ref"] == "x@1"
    r = cpmap("ledger", "show", "-f", "json", cwd=project)
    assert json.loads(r.stdout)["size"] >= 1
    assert cpmap("ledger", "verify", cwd=project).returncode == 0
    r = cpmap("ledger", "proof", "0", "-f", "json", cwd=project)
    assert json.loads(r.stdout)["verified"] is True
    out = tmp_path / "export.jsonl"
    assert cpmap("ledger", "export", "-o", str(out), cwd=project).returncode == 0
    r = cpmap("ledger", "verify", "--file", str(out), "--public-key",
              str(project / ".cpmap" / "keys" / "signing.pub"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:-1]) + "\n")
    r = cpmap("ledger", "verify", "--file", str(out), "--public-key",
              str(project / ".cpmap" / "keys" / "signing.pub"), cwd=tmp_path)
    assert r.returncode == 1 and "ledger index" in r.stderr
    _no_traceback(r)


def test_trust_key_commands(project: Path, tmp_path: Path) -> None:
    from cpmap.core.keys import SigningKey

    SigningKey.generate().save(tmp_path / "s.pem", tmp_path / "s.pub")
    assert cpmap("trust", "key", "add", "acme", str(tmp_path / "s.pub"), cwd=project
                 ).returncode == 0
    r = cpmap("trust", "key", "list", "-f", "json", cwd=project)
    assert [k["name"] for k in json.loads(r.stdout)] == ["acme"]
    assert cpmap("trust", "key", "remove", "acme", cwd=project).returncode == 0


@pytest.mark.parametrize("args", [
    ("data", "fingerprint", "missing-file"),
    ("data", "verify", "data", "--attestation", "data/y.txt"),
    ("ledger", "proof", "99"),
    ("data", "register", "bad name", "data"),
    ("trust", "key", "add", "k", "data/y.txt"),
    ("ledger", "export", "-o", "data"),
    ("report", "-o", "data/y.txt"),
    ("ledger", "show", "--limit", "-1"),
])
def test_bad_input_exits_2_with_one_line(project: Path, args: tuple[str, ...]) -> None:
    r = cpmap(*args, cwd=project)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("cpmap: error:")
    _no_traceback(r)


def test_no_workspace_is_a_clear_error(tmp_path: Path) -> None:
    r = cpmap("ledger", "show", cwd=tmp_path)
    assert r.returncode == 2 and "no cpmap workspace" in r.stderr


def test_version_and_help() -> None:
    assert cpmap("--version").stdout.startswith("cpmap ")
    assert cpmap("--help").returncode == 0
