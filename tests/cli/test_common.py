"""The CLI's one optional-workspace helper: named workspaces must open, absent ones are None."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpmap.cli.common import optional_workspace
from cpmap.core.workspace import init
from cpmap.errors import WorkspaceError


def test_none_around_is_none_and_said_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert optional_workspace(None) is None
    assert capsys.readouterr().err == ""
    assert optional_workspace(None, note=True) is None
    assert "evidence not recorded" in capsys.readouterr().err


def test_found_upwards_or_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    init(tmp_path)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    found = optional_workspace(None)
    assert found is not None and found.root == tmp_path.resolve()
    named = optional_workspace(tmp_path)
    assert named is not None and named.root == tmp_path.resolve()


def test_a_named_workspace_that_is_not_one_is_bad_input(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkspaceError, match="no cpmap workspace"):
        optional_workspace(tmp_path / "typo")
    monkeypatch.setenv("CPMAP_WORKSPACE", str(tmp_path / "typo"))
    with pytest.raises(WorkspaceError, match="no cpmap workspace"):
        optional_workspace(None, note=True)
