"""What every command shares: workspace and format options, output, progress bars."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", envvar="CPMAP_WORKSPACE",
                 help="Workspace directory (default: nearest .cpmap/ upwards)."),
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the result to this file.")
]


class Fmt(StrEnum):
    table = "table"
    json = "json"


class FindingsFmt(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"
    markdown = "markdown"
    html = "html"


FormatOpt = Annotated[Fmt, typer.Option("--format", "-f", help="Output format.")]
FindingsFormatOpt = Annotated[FindingsFmt, typer.Option("--format", "-f", help="Output format.")]


def optional_workspace(path: Path | None, *, note: bool = False) -> Workspace | None:
    """The workspace to record evidence in; None (the command only reports) when there is none.

    A workspace that is named (``--workspace``, ``$CPMAP_WORKSPACE``) must open: a typo there is
    bad input, not a reason to skip the evidence. With ``note`` a missing one is said on stderr.
    """
    from cpmap.core.workspace import find_root, open_workspace

    if path is not None or os.environ.get("CPMAP_WORKSPACE"):
        return open_workspace(path)
    if find_root(Path.cwd()) is None:
        if note:
            stderr_console().print("no cpmap workspace: evidence not recorded")
        return None
    return open_workspace()


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def stdout_console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=False)


def write_text(text: str, output: Path | None) -> None:
    """Write a result to ``output`` (atomically) or to stdout."""
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    from cpmap.core.workspace import atomic_write

    check_output(output)  # "a/b" under a file "a": name it, not mkdir's "File exists"
    try:
        atomic_write(output, text.encode())
    except OSError as e:
        raise InputError(f"{output}: cannot write: {e.strerror}") from e
    stderr_console().print(f"wrote {output}")


def check_output(output: Path | None) -> None:
    """Refuse an --output that cannot be a file, before a command records evidence."""
    if output is None:
        return
    if output.is_dir():
        raise InputError(f"{output}: is a directory (--output needs a file path)")
    parent = next((p for p in output.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise InputError(f"{output}: {parent} is not a directory")


def emit_json(value: Any, output: Path | None = None) -> None:
    from cpmap.formats.jsonfmt import dumps

    write_text(dumps(value), output)


def emit(
    value: Any,
    fmt: str,
    output: Path | None,
    table: Callable[[Any], None],
) -> None:
    """JSON to stdout/--output, or a table rendered by ``table`` to stdout/--output."""
    if fmt == "json":
        emit_json(value, output)
    else:
        _table_to(output, lambda: table(value))


def _table_to(output: Path | None, table: Callable[[], None]) -> None:
    """Render a table on stdout, or into ``--output`` (which must not be ignored)."""
    if output is None:
        table()
        return
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        table()
    write_text(buffer.getvalue(), output)


def emit_findings(findings: Sequence[Any], fmt: str, output: Path | None,
                  table: Callable[[], None], json_value: Any, title: str = "Findings",
                  base: Path | None = None) -> None:
    """Findings in any of table, json, sarif, markdown, html; ``base``: the directory the
    findings' relative paths are relative to (SARIF makes them repository-relative)."""
    if fmt == "json":
        emit_json(json_value, output)
    elif fmt == "sarif":
        from cpmap.formats.sarif import to_sarif

        emit_json(to_sarif(findings, base=base), output)
    elif fmt == "markdown":
        from cpmap.formats import markdown

        write_text(markdown.findings(findings, title), output)
    elif fmt == "html":
        from cpmap.formats.html import findings_page

        write_text(findings_page(findings, title), output)
    else:
        _table_to(output, table)


@contextmanager
def progress(description: str, total: int | None, enabled: bool = True) -> Iterator[
        Callable[[int], None]]:
    """A byte/step progress bar on stderr when it is a terminal; a no-op advance otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    cols = [BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
    with Progress(f"[bold]{description}", *cols, console=stderr_console(),
                  transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
