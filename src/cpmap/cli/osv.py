"""``cpmap osv``: download OSV's public advisory export for offline ``cpmap scan deps``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import Fmt, FormatOpt, WorkspaceOpt, emit, progress, stderr_console

app = typer.Typer(no_args_is_help=True)


@app.command("fetch")
def fetch_cmd(
    ecosystem: Annotated[str, typer.Option("--ecosystem", help="OSV ecosystem.")] = "PyPI",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Folder for ECOSYSTEM/all.zip (default: .cpmap/osv in a "
        "workspace).")] = None,
    url: Annotated[str | None, typer.Option(
        "--url", envvar="CPMAP_SUPPLYCHAIN_OSV_URL", help="Base URL of the export (a mirror)."
    )] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per network read.")]
    = 30.0,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Download (or resume) ECOSYSTEM/all.zip; record its SHA-256; set [supplychain] osv_db.

    Exit 2 when the export cannot be downloaded (nothing is changed but the partial file,
    which the next run resumes).
    """
    from cpmap.errors import InputError
    from cpmap.supplychain.osvfetch import OSV_EXPORT, fetch

    if not 0 < timeout <= 600:
        raise InputError(f"--timeout {timeout:g}: must be in (0, 600] seconds")
    ws = _workspace(workspace)
    if output is None and ws is None:
        raise InputError("give -o DIR (no cpmap workspace here to keep the database in)")
    out_dir = output if output is not None else ws.dir / "osv"
    with progress(f"OSV {ecosystem}", None) as advance:
        got = fetch(ecosystem, out_dir, base=url or OSV_EXPORT, timeout=timeout,
                    on_bytes=lambda n, _total: advance(n))
    value: dict[str, Any] = got.to_dict()
    if ws is not None:
        value["osv_db"] = _record(ws, got.path)
    emit(value, fmt.value, None, lambda v: typer.echo(
        f"{v['path']}: {v['records']} advisories, {v['bytes']} bytes, sha256:{v['sha256']}"))
    if ws is not None:
        stderr_console().print(f"cpmap.toml: [supplychain] osv_db = {value['osv_db']!r}")


def _workspace(workspace: Path | None) -> Any:
    from cpmap.core.workspace import open_workspace
    from cpmap.errors import WorkspaceError

    try:
        return open_workspace(workspace)
    except WorkspaceError:
        if workspace is not None:
            raise
        return None


def _record(ws: Any, path: Path) -> str:
    """Point the workspace's scans at the database (relative to its root when inside it)."""
    from cpmap.core.config import set_value

    absolute = path.resolve()
    try:
        value = str(absolute.relative_to(ws.root))
    except ValueError:
        value = str(absolute)
    set_value(ws.dir / "cpmap.toml", "supplychain", "osv_db", value)
    return value
