"""``cpmap report``: write the Control Points Map as a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cpmap.cli.common import WorkspaceOpt, stderr_console


def report(
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write.")]
    = Path("cpmap-report"),
    workspace: WorkspaceOpt = None,
) -> None:
    """Write DIR/index.html: the five phases by ten controls, from the ledger's evidence."""
    from cpmap.core.workspace import open_workspace
    from cpmap.formats.report import write_report

    path = write_report(open_workspace(workspace), output)
    stderr_console().print(f"wrote {path}")
