"""One store, several workspaces: a workspace never appends to a log it does not sign, and
``cpmap init`` says what it found in the store."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cpmap.core.derived_tables import check_derived
from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.ledger import Ledger, store_log, verify_ledger
from cpmap.core.workspace import Workspace, init
from cpmap.errors import LedgerError


def _init(directory: Path, *args: str) -> None:
    """``cpmap init`` in-process; it must exit 0."""
    from cpmap.cli import main

    with pytest.raises(SystemExit) as done:
        main(["init", str(directory), *args])
    assert done.value.code in (0, None)


def _record(ws: Workspace, i: int) -> None:
    record(Evidence("CP1", "test", [Subject(f"s{i}", hashlib.sha256(bytes([i])).hexdigest())],
                    Verdict.PASS), ws)


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> str:
    url = (f"sqlite:///{tmp_path / 'shared.db'}" if request.param == "sqlite"
           else str(request.getfixturevalue("pg_url")))
    monkeypatch.setenv("CPMAP_DATABASE_URL", url)
    return url


@pytest.mark.postgres
def test_second_workspace_refuses_the_first_ones_log(shared_url: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    first = init(tmp_path / "a", "team")
    for i in range(3):
        _record(first, i)
    _init(tmp_path / "b", "--name", "team")  # the same name, another key
    err = capsys.readouterr().err
    assert "already holds the log of origin 'cpmap.team' (3 entries" in err
    assert "will refuse to append" in err
    from cpmap.core.workspace import open_workspace

    second = open_workspace(tmp_path / "b")
    assert store_log(second) is not None and store_log(first) == "this workspace's own log"
    with pytest.raises(LedgerError, match="refuses to write into another workspace's log"):
        _record(second, 9)
    assert Ledger(first).size() == 3
    assert verify_ledger(Ledger(first)).size == 3  # the first log is intact
    check_derived(first)
    _record(first, 4)  # and its owner still appends
    assert verify_ledger(Ledger(first)).size == 4
    for args in (["ledger", "verify"], ["ledger", "show"]):  # no foreign entry read as own
        code, err = _cli(capsys, *args, "--workspace", str(tmp_path / "b"))
        assert code == 1 and "has no log in it" in err and "forged" not in err
    code, err = _cli(capsys, "ledger", "verify", "--workspace", str(tmp_path / "a"))
    assert code == 0 and "ledger OK: 4 entries" in err
    first.close()
    second.close()


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``cpmap ARGS`` in-process: (exit code, stderr)."""
    from cpmap.cli import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err


def test_init_on_an_empty_store_reports_nothing(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _init(tmp_path / "c")
    assert "warning" not in capsys.readouterr().err


# -- a namespace of its own: `cpmap init --schema` ----------------------------------------------

@pytest.mark.postgres
def test_own_schema_works_beside_another_workspaces_log(pg_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    import uuid

    import psycopg
    from tests.conftest import PG_DSN

    from cpmap.core.workspace import open_workspace

    monkeypatch.setenv("CPMAP_DATABASE_URL", pg_url)
    first = init(tmp_path / "a", "team")
    for i in range(3):
        _record(first, i)
    schema = f"cpmap_t_{uuid.uuid4().hex[:12]}_b"
    try:
        capsys.readouterr()
        _init(tmp_path / "b", "--name", "team", "--schema", schema)
        err = capsys.readouterr().err
        assert f"schema {schema} (this workspace's own namespace)" in err
        assert "the database's default schema holds the log of origin 'cpmap.team' (3 " in err
        assert "warning" not in err
        second = open_workspace(tmp_path / "b")
        assert second.store.schema == schema
        for i in range(2):
            _record(second, 10 + i)  # its own log, beside the first one
        assert verify_ledger(Ledger(second)).size == 2
        assert verify_ledger(Ledger(first)).size == 3
        check_derived(first)
        check_derived(second)
        _record(first, 4)
        assert verify_ledger(Ledger(first)).size == 4 and Ledger(second).size() == 2
        code, err = _cli(capsys, "ledger", "verify", "--workspace", str(tmp_path / "b"))
        assert code == 0 and "ledger OK: 2 entries" in err
        _init(tmp_path / "c", "--name", "team", "--schema", schema)  # a third key, b's schema
        assert f"(schema {schema}) already holds the log of origin" in capsys.readouterr().err
        with pytest.raises(LedgerError, match="refuses to write into another workspace's log"):
            _record(open_workspace(tmp_path / "c"), 99)
        first.close()
        second.close()
    finally:
        with psycopg.connect(PG_DSN.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_schema_is_refused_on_sqlite_and_when_malformed(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    from cpmap.cli import main

    for name, says in (("ns", "schemas are for PostgreSQL"), ("Bad-Name", "lowercase letters")):
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(["init", str(tmp_path / name), "--schema", name])
        err = capsys.readouterr().err
        assert done.value.code == 2 and says in err and "Traceback" not in err
        assert not (tmp_path / name / ".cpmap").exists()  # refused: nothing made
