"""``cpmap rollout status|start|promote|abort NAME``: the canary stage (CP10)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import Fmt, FormatOpt, WorkspaceOpt, emit, stdout_console

app = typer.Typer(no_args_is_help=True)


def _ws(workspace: Path | None) -> Any:
    from cpmap.core.workspace import open_workspace

    return open_workspace(workspace)


def _kv(d: dict[str, Any]) -> None:
    con = stdout_console()
    for k, v in d.items():
        con.print(f"{k}: {v}", highlight=False)


@app.command()
def status(name: Annotated[str, typer.Argument(help="Model name.")],
           workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """The rollout of NAME: candidate, production, share, state, requests per arm."""
    from cpmap.retrain.rollout import status as get_status

    emit(get_status(_ws(workspace), name), fmt.value, None, _kv)


@app.command()
def start(ref: Annotated[str, typer.Argument(help="Gated candidate NAME@VERSION.")],
          share: Annotated[float | None, typer.Option(
              "--share", help="Share of clients on the canary (default [retraining] "
              "canary_share, 0.2).")] = None,
          workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Start a canary of a gated candidate (gateways serving NAME route SHARE to it)."""
    from cpmap.retrain.rollout import start as start_rollout

    emit(start_rollout(_ws(workspace), ref, share), fmt.value, None, _kv)


@app.command()
def promote(name: Annotated[str, typer.Argument(help="Model name.")],
            force: Annotated[bool, typer.Option(
                "--force", help="Promote without waiting for an estimable comparison (the "
                "gate still decides).")] = False,
            workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Compare the canary with production; promote through the gate, or roll back.
    Exit 1 on a rollback or when the comparison is not estimable yet."""
    from cpmap.retrain import rollout

    ws = _ws(workspace)
    d = rollout.promote(ws, name) if force else rollout.decide(ws, name)
    emit(d.to_dict(), fmt.value, None, _kv)
    if d.action != "promote":
        raise typer.Exit(1)


@app.command()
def abort(name: Annotated[str, typer.Argument(help="Model name.")],
          workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Stop the canary; production keeps serving."""
    from cpmap.retrain.rollout import abort as abort_rollout

    emit(abort_rollout(_ws(workspace), name).to_dict(), fmt.value, None, _kv)
