"""Every command given hostile input: one clear line naming it, exit 2, nothing changed.

The cases (tests/cli/hostile_cases.py) are the classes issue 18 found by attacking the CLI:
inputs that gave exit 3, leaked a secret or a row, changed state before failing, were accepted
when they should be refused, or made the OSV database fail open. For each one this checks:

- exit code 2 and a single ``cpmap: error: ...`` line on stderr that says what is wrong;
- no traceback, and neither the planted password nor the planted SSN in the output;
- no ledger entry, no new or changed file (the HMAC key included), no file written.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cpmap.cli import main
from cpmap.core.workspace import init

from .hostile_cases import CASES, PASSWORD, PII, Builder

_VOLATILE = ("store.db", "tmp")  # SQLite's own files and tools' scratch


def _state(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its digest (the store is compared by ledger size)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()
            and not any(part.startswith(_VOLATILE) for part in p.relative_to(root).parts)}


def _ledger_size(ws_root: Path) -> int:
    from cpmap.core.ledger import Ledger
    from cpmap.core.workspace import open_workspace
    from cpmap.errors import Error

    try:
        ws = open_workspace(ws_root)
    except Error:  # a case may break cpmap.toml or the store URL on purpose
        return -1
    try:
        return len(list(Ledger(ws).entries()))
    except Error:
        return -1
    finally:
        ws.close()


@pytest.mark.parametrize(("name", "build", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hostile_input(name: str, build: Builder, expected: str, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    init(tmp_path / "ws", "hostile").close()
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("{W}", str(tmp_path / "ws")) for a in build(tmp_path)]
    before, entries = _state(tmp_path), _ledger_size(tmp_path / "ws")
    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"{name}: exit {code}: {err}"
    assert len(lines) == 1 and lines[0].startswith("cpmap: error: "), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in out + err and PASSWORD not in out + err and PII not in out + err
    assert _ledger_size(tmp_path / "ws") == entries, "a failed command appended evidence"
    assert _state(tmp_path) == before, "a failed command changed files"
