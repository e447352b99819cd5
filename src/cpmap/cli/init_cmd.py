"""``cpmap init``: create a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import stderr_console


def init(
    directory: Annotated[Path, typer.Argument(help="Project directory.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="Workspace name (default: directory name).")]
    = None,
    schema: Annotated[str | None, typer.Option(
        help="PostgreSQL only: keep this workspace's tables in its own schema of a database "
             "that other workspaces share ([store] schema).")] = None,
) -> None:
    """Create .cpmap/ with cpmap.toml, an Ed25519 signing key (0600) and the store.

    Says what the store already holds: another workspace's log on a shared database (this
    workspace then refuses to append to it, unless it has its own ``--schema``).
    """
    from cpmap.core.workspace import init as do_init

    ws = do_init(directory, name, schema)
    out = stderr_console()
    out.print(f"initialized cpmap workspace [bold]{ws.name}[/] in {ws.dir}")
    out.print(f"  signing key  {ws.private_key_path} (0600), key id {ws.signing_key.keyid[:16]}")
    out.print(f"  public key   {ws.public_key_path}  (give this to auditors)")
    kind = ws.store.url.split("://")[0]
    out.print(f"  store        {kind}" + (f", schema {ws.store.schema} (this workspace's own "
                                          "namespace)" if ws.store.schema else ""))
    osv = ws.setting("supplychain", "osv_db")
    out.print(f"  OSV database {osv} (\\[supplychain] osv_db)" if osv else
              "  OSV database none yet: `cpmap osv fetch` downloads it and sets "
              "\\[supplychain] osv_db (`cpmap scan deps` needs it, or --online)")
    _found(ws, out)


def _found(ws: Any, out: Any) -> None:
    """What the store held before this workspace: a log in its own place is a warning, one
    beside its own schema is reported and left alone."""
    from cpmap.core.ledger import store_log
    from cpmap.core.store import Store

    found = store_log(ws)
    if found is not None:
        out.print(f"[yellow]warning[/]: {ws.store.where} already holds {found}: this "
                  "workspace will refuse to append to it. Give it its own database, or its "
                  "own schema in this one (cpmap init --schema NAME, or \\[store] schema).")
    if ws.store.schema is None:
        return
    shared = Store.peek(ws.store.url)
    try:
        beside = store_log(ws, shared)
    finally:
        shared.dispose()
    out.print(f"  found        the database's default schema holds {beside}; left untouched, "
              f"this workspace's log is in schema {ws.store.schema}" if beside is not None else
              "  found        no other log in the database's default schema")
