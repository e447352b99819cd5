"""``cpmap review``: reviewer accounts, the review web app, queueing and export (CP10)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import Fmt, FormatOpt, WorkspaceOpt, emit, stderr_console, stdout_console

app = typer.Typer(no_args_is_help=True)
user_app = typer.Typer(no_args_is_help=True, help="Reviewer accounts.")
app.add_typer(user_app, name="user")


def _ws(workspace: Path | None) -> Any:
    from cpmap.core.workspace import open_workspace

    return open_workspace(workspace)


def _kv(d: Any) -> None:
    con = stdout_console()
    for row in d if isinstance(d, list) else [d]:
        con.print("  ".join(f"{k}: {v}" for k, v in row.items()), highlight=False)


@user_app.command("add")
def user_add(name: Annotated[str, typer.Argument(help="Account name.")],
             role: Annotated[str, typer.Option("--role", help="reviewer or admin.")]
             = "reviewer",
             password_env: Annotated[str, typer.Option(
                 "--password-env", help="Read the password from this environment variable "
                 "instead of prompting.")] = "",
             workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Create a reviewer account (the password is stored as an argon2id hash only)."""
    from cpmap.errors import InputError
    from cpmap.review.accounts import add_user

    if password_env:
        password = os.environ.get(password_env, "")
        if not password:
            raise InputError(f"--password-env {password_env}: the variable is empty or unset")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    add_user(_ws(workspace), name, role, password)
    emit({"user": name, "role": role}, fmt.value, None, _kv)


@user_app.command("list")
def user_list(workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """The accounts (names and roles; never a hash)."""
    from cpmap.review.accounts import list_users

    emit(list_users(_ws(workspace)), fmt.value, None, _kv)


@app.command()
def serve(host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", help="Port.", min=1, max=65535)] = 8090,
          insecure_cookies: Annotated[bool, typer.Option(
              "--insecure-cookies", help="Cookies without the Secure flag (plain HTTP from "
              "another host; never in production).")] = False,
          workspace: WorkspaceOpt = None) -> None:
    """Serve the review queue (server-rendered pages, CSRF-protected forms)."""
    import uvicorn

    from cpmap.review.web import build

    if host not in ("127.0.0.1", "localhost", "::1"):
        stderr_console().print(f"[yellow]warning[/]: binding {host}: the review app is "
                               "reachable from other hosts")
    app_ = build(_ws(workspace), secure_cookies=not insecure_cookies)
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command("queue")
def queue_flagged(name: Annotated[str, typer.Argument(help="Model name.")],
                  shape: Annotated[str, typer.Option(
                      "--shape", help="Image shape HxW of sampled inputs (e.g. 8x8).")] = "",
                  golden: Annotated[bool, typer.Option(
                      "--golden", help="Queue the golden-set rows NAME's version gets wrong "
                      "(CP9 golden-set disagreements) instead of the prediction log.")] = False,
                  golden_set: Annotated[str | None, typer.Option(
                      "--golden-set", help="With --golden: the golden set (default "
                      "NAME-golden).")] = None,
                  workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Queue the flagged predictions of NAME's prediction log (or with --golden its golden-set
    disagreements) for review."""
    from cpmap.review.queue import counts, from_predlog

    ws = _ws(workspace)
    if golden or golden_set:
        from cpmap.review.golden import from_golden

        added = from_golden(ws, name, golden_set)
        name = name.split("@")[0].split(":")[0]
    else:
        added = from_predlog(ws, name, shape)
    emit({"queued": added, **counts(ws, name)}, fmt.value, None, _kv)


@app.command()
def export(name: Annotated[str, typer.Argument(help="Model name.")],
           output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write.")],
           workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Write the curated dataset (signed, registered as a CP1 dataset)."""
    from cpmap.review.export import export as run_export

    emit(run_export(_ws(workspace), name, output).to_dict(), fmt.value, None, _kv)
