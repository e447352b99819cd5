"""``cpmap init``: create a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cpmap.cli.common import stderr_console


def init(
    directory: Annotated[Path, typer.Argument(help="Project directory.")] = Path("."),
    name: Annotated[str | None, typer.Option(help="Workspace name (default: directory name).")]
    = None,
) -> None:
    """Create .cpmap/ with cpmap.toml, an Ed25519 signing key (0600) and the store.

    Says so when the store already holds a ledger (another workspace's log, on a shared
    database): a workspace never appends to a log it does not sign.
    """
    from cpmap.core.ledger import store_log
    from cpmap.core.store import redact_url
    from cpmap.core.workspace import init as do_init

    ws = do_init(directory, name)
    out = stderr_console()
    out.print(f"initialized cpmap workspace [bold]{ws.name}[/] in {ws.dir}")
    out.print(f"  signing key  {ws.private_key_path} (0600), key id {ws.signing_key.keyid[:16]}")
    out.print(f"  public key   {ws.public_key_path}  (give this to auditors)")
    out.print(f"  store        {ws.store.url.split('://')[0]}")
    osv = ws.setting("supplychain", "osv_db")
    out.print(f"  OSV database {osv} (\\[supplychain] osv_db)" if osv else
              "  OSV database none yet: `cpmap osv fetch` downloads it and sets "
              "\\[supplychain] osv_db (`cpmap scan deps` needs it, or --online)")
    found = store_log(ws)
    if found is not None:
        out.print(f"[yellow]warning[/]: {redact_url(ws.store.url)} already holds {found}: this "
                  "workspace will refuse to append to it. Give it its own database or "
                  "PostgreSQL schema (CPMAP_DATABASE_URL=...?options=-csearch_path%3DNAME).")
