from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from cpmap.core.workspace import Workspace, init

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "privacy"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = init(tmp_path / "proj")
    yield workspace
    workspace.close()


def set_config(ws: Workspace, toml: str) -> Workspace:
    """Append ``toml`` to the workspace config (replacing tables it redefines) and reopen it."""
    import re

    from cpmap.core.workspace import open_workspace

    path = ws.dir / "cpmap.toml"
    text = path.read_text()
    for name in re.findall(r"^\[([^\]]+)\]$", toml, flags=re.M):
        text = re.sub(rf"^\[{re.escape(name)}\]\n(?:(?!\[).*\n?)*", "", text, flags=re.M)
    path.write_text(text + "\n" + toml)
    ws.close()
    return open_workspace(ws.root)


@pytest.fixture(scope="session")
def customers_frame() -> pd.DataFrame:
    from cpmap.builtin import customers

    return customers(300, seed=11)


@pytest.fixture
def customers_csv(ws: Workspace, customers_frame: pd.DataFrame) -> Path:
    path = ws.root / "customers.csv"
    customers_frame.to_csv(path, index=False)
    return path


@pytest.fixture
def cli(ws: Workspace, capsys: pytest.CaptureFixture[str]
        ) -> Callable[..., tuple[int, str, str]]:
    """Run ``cpmap`` in-process against the test workspace: (exit code, stdout, stderr)."""
    from cpmap.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main([*args, "--workspace", str(ws.root)])
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
