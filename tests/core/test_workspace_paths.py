"""Paths inside a workspace are stored relative to it: a copied workspace checks its own files."""

from __future__ import annotations

import shutil
from pathlib import Path

from cpmap.core.workspace import init, open_workspace
from cpmap.provenance.datasets import get_dataset, open_dataset, register_dataset


def test_a_copied_workspace_checks_its_own_files(tmp_path: Path) -> None:
    original = tmp_path / "project"
    (original / "data").mkdir(parents=True)
    (original / "data" / "t.csv").write_text("a,b\n1,2\n")
    ws = init(original, "acme")
    register_dataset(ws, "t", original / "data" / "t.csv")
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    (original / "data" / "t.csv").write_text("a,b\n9,9\n")  # the original changes afterwards
    moved = open_workspace(copy)
    dv = open_dataset("t@1", moved)
    assert Path(dv.path) == copy / "data" / "t.csv"


def test_paths_outside_the_workspace_stay_absolute(tmp_path: Path) -> None:
    ws = init(tmp_path / "project", "acme")
    (tmp_path / "elsewhere.csv").write_text("a,b\n1,2\n")
    register_dataset(ws, "e", tmp_path / "elsewhere.csv")
    assert get_dataset(ws, "e@1").path == str((tmp_path / "elsewhere.csv").resolve())
    assert ws.relative(ws.root / "x" / "y.csv") == "x/y.csv"
    assert ws.scratch("hypothesis") == ws.dir / "tmp" / "hypothesis"
