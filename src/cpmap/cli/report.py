"""``cpmap report [NAME@VERSION]``: write the Control Points Map as a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cpmap.cli.common import WorkspaceOpt, stderr_console


def report(
    ref: Annotated[str | None, typer.Argument(
        metavar="[NAME@VERSION]", help="A model version: its map, with the gate's status per "
        "control and its lineage. Without it: the whole workspace.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write.")]
    = Path("cpmap-report"),
    workspace: WorkspaceOpt = None,
) -> None:
    """Write DIR/index.html: the five phases by ten controls, from the ledger's evidence."""
    from cpmap.core.workspace import open_workspace
    from cpmap.formats.report import write_report, write_version_report

    ws = open_workspace(workspace)
    path = write_version_report(ws, ref, output) if ref else write_report(ws, output)
    stderr_console().print(f"wrote {path}")
