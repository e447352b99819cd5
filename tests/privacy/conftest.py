from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cpmap.core.workspace import Workspace, init


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = init(tmp_path / "proj")
    yield workspace
    workspace.close()


def set_config(ws: Workspace, toml: str) -> Workspace:
    """Append ``toml`` to the workspace config and reopen it."""
    from cpmap.core.workspace import open_workspace

    path = ws.dir / "cpmap.toml"
    path.write_text(path.read_text() + "\n" + toml)
    ws.close()
    return open_workspace(ws.root)
