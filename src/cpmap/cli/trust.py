"""``cpmap trust key``: manage the keys trusted to sign supplier attestations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cpmap.cli.common import Fmt, FormatOpt, WorkspaceOpt, emit, stderr_console

app = typer.Typer(no_args_is_help=True)
key_app = typer.Typer(no_args_is_help=True, help="Trusted public keys.")
app.add_typer(key_app, name="key")


@key_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Name of the key (the supplier).")],
    pubkey: Annotated[Path, typer.Argument(help="PEM Ed25519 public key.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Trust a supplier's public key (recorded in the ledger)."""
    from cpmap.core.workspace import open_workspace
    from cpmap.provenance.trust import add_key

    k = add_key(open_workspace(workspace), name, pubkey)
    stderr_console().print(f"trusted key [bold]{k.name}[/] ({k.keyid[:16]})")


@key_app.command("list")
def list_cmd(workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """List trusted keys."""
    from cpmap.core.workspace import open_workspace
    from cpmap.formats.table import render
    from cpmap.provenance.trust import list_keys

    rows = [{"name": k.name, "keyid": k.keyid, "added_at": k.added_at}
            for k in list_keys(open_workspace(workspace))]
    emit(rows, fmt, None, lambda v: render(v, title="trusted keys"))


@key_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="Name of the key.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Stop trusting a key (recorded in the ledger)."""
    from cpmap.core.workspace import open_workspace
    from cpmap.provenance.trust import remove_key

    remove_key(open_workspace(workspace), name)
    stderr_console().print(f"removed trusted key {name}")
