"""Workspace creation, discovery, configuration and key handling."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cpmap.core import config
from cpmap.core.keys import load_signing_key
from cpmap.core.workspace import find_root, init, open_workspace
from cpmap.errors import InputError, WorkspaceError


def test_init_layout_and_key_mode(tmp_path: Path) -> None:
    ws = init(tmp_path / "p")
    assert (ws.dir / "cpmap.toml").is_file()
    assert stat.S_IMODE(ws.private_key_path.stat().st_mode) == 0o600
    assert ws.public_key_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert ws.database_url.startswith("sqlite:///")
    with pytest.raises(WorkspaceError):
        init(tmp_path / "p")


def test_find_upwards_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = init(tmp_path / "p")
    deep = ws.root / "a" / "b"
    deep.mkdir(parents=True)
    assert find_root(deep) == ws.root
    monkeypatch.chdir(deep)
    assert open_workspace().root == ws.root
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CPMAP_WORKSPACE", str(ws.root))
    assert open_workspace().root == ws.root
    with pytest.raises(WorkspaceError):
        open_workspace(tmp_path / "nowhere")


def test_env_overrides(tmp_path: Path) -> None:
    ws = init(tmp_path / "p")
    data = config.load(ws.dir / "cpmap.toml", {"CPMAP_SOURCES_TRUSTED": '["s3://*"]',
                                               "CPMAP_DATABASE_URL": "sqlite:///x.db"})
    assert data["sources"]["trusted"] == ["s3://*"]
    assert data["store"]["url"] == "sqlite:///x.db"


def test_bad_toml_is_a_clear_error(tmp_path: Path) -> None:
    ws = init(tmp_path / "p")
    (ws.dir / "cpmap.toml").write_text("[store\n")
    with pytest.raises(WorkspaceError, match="invalid TOML"):
        open_workspace(ws.root)


def test_key_readable_by_others_refused(tmp_path: Path) -> None:
    ws = init(tmp_path / "p")
    ws.private_key_path.chmod(0o644)
    with pytest.raises(InputError, match="readable by other users"):
        load_signing_key(ws.private_key_path)


def test_unreachable_database_is_one_line_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from cpmap.errors import StoreError

    ws = init(tmp_path / "p")
    monkeypatch.setenv("CPMAP_DATABASE_URL",
                       "postgresql+psycopg://u:secret@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(StoreError) as err:
        open_workspace(ws.root).store  # noqa: B018
    assert "secret" not in err.value.message


def test_env_sets_known_sections_absent_from_the_file(tmp_path: Path) -> None:
    data = config.apply_env({}, {"CPMAP_PRIVACY_K": "7", "CPMAP_NOPE_X": "1"})
    assert data == {"privacy": {"k": 7}}


@pytest.mark.parametrize("name", ["ok\n", "", "-x", "a b", "../x", "x" * 201])
def test_names_are_checked_whole(name: str) -> None:
    from cpmap.core.names import check_name

    with pytest.raises(InputError):
        check_name("dataset", name)
