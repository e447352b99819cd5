"""``cpmap gateway``: API keys for the CP7 gateway, attacks on a running gateway, and the
prediction log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import Fmt, FormatOpt, WorkspaceOpt, emit, emit_json, stderr_console

app = typer.Typer(no_args_is_help=True)
key_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys.")
log_app = typer.Typer(no_args_is_help=True, help="The tamper-evident prediction log.")
app.add_typer(key_app, name="key")
app.add_typer(log_app, name="log")


def _ws(workspace: Path | None) -> Any:
    from cpmap.core.workspace import open_workspace

    return open_workspace(workspace)


@key_app.command("create")
def key_create(
    client: Annotated[str, typer.Argument(help="Client name the key belongs to.")],
    scope: Annotated[list[str] | None, typer.Option(
        "--scope", help="infer:NAME, infer:* or metrics; repeat.")] = None,
    rate: Annotated[str, typer.Option(help="Request rate, e.g. 100/minute.")] = "100/minute",
    budget: Annotated[str | None, typer.Option(
        help="Query budget (rows), e.g. 10000/day or 50000/month. Default: sized from the "
        "served version's CP5 extraction evidence.")] = None,
    output: Annotated[str | None, typer.Option(
        help="full, top-k:N, rounded:D or label. Default: from CP5 evidence.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Create an API key. It is printed once; the store keeps only a keyed hash."""
    from cpmap.gateway.keys import create

    key, row = create(_ws(workspace), client, scope or [], rate, budget or "", output or "")
    value = {"client": client, "key": key, **{k: v for k, v in row.to_dict().items()
                                             if k != "client"}}
    emit(value, fmt.value, None, lambda v: typer.echo(v["key"]))
    stderr_console().print(f"created key {row.key_id} for {client} (scopes: "
                           f"{', '.join(row.scopes) or 'none'}); store it now, it is not "
                           "shown again", markup=False, highlight=False)


@key_app.command("list")
def key_list(workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """API keys (never the keys themselves): client, scopes, limits, state."""
    from cpmap.gateway.keys import list_keys

    rows = [k.to_dict() for k in list_keys(_ws(workspace))]

    def table(value: list[dict[str, Any]]) -> None:
        from cpmap.formats.table import render

        render([{**r, "state": "revoked" if r["revoked_at"] else "live"} for r in value],
               ["client", "key_id", "scopes", "rate", "budget", "output", "state"],
               title="API keys")

    emit(rows, fmt.value, None, table)


@key_app.command("revoke")
def key_revoke(
    client: Annotated[str, typer.Argument(help="Client whose keys to revoke.")],
    key_id: Annotated[str | None, typer.Option(help="Only this key id.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Revoke a client's live keys (running gateways drop them within key_refresh_s)."""
    from cpmap.gateway.keys import revoke

    done = revoke(_ws(workspace), client, key_id)
    if fmt == Fmt.json:
        emit_json({"client": client, "revoked": [k.key_id for k in done]})
    stderr_console().print(f"revoked {len(done)} key(s) of {client}", markup=False)


@log_app.command("verify")
def log_verify(workspace: WorkspaceOpt = None, fmt: FormatOpt = Fmt.table) -> None:
    """Recompute every prediction-log batch root against its signed ledger entry."""
    from cpmap.core.ledger import Ledger
    from cpmap.gateway.predlog import verify_batch

    ws = _ws(workspace)
    batches = [e.index for e in Ledger(ws).entries(kind="gateway-predictions")]
    bad = [i for i in batches if not verify_batch(ws, i)]
    value = {"batches": len(batches), "bad": bad, "ok": not bad}
    emit(value, fmt.value, None, lambda v: typer.echo(
        f"{v['batches']} batch(es), {len(v['bad'])} altered" + (
            f": {v['bad']}" if v["bad"] else "")))
    if bad:
        raise typer.Exit(1)


@app.command("check")
def check(
    name: Annotated[str, typer.Argument(help="Model name the gateway serves.")],
    url: Annotated[str, typer.Option(help="Gateway base URL.")] = "http://127.0.0.1:8080",
    serve: Annotated[str | None, typer.Option(
        help="Serve this version first (NAME:staging, NAME@V) exactly as `cpmap serve` does, "
        "on a free 127.0.0.1 port, attack it there, then stop it (instead of --url).")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Attack a running gateway (credentials, limits, budgets, bodies, file parsers, output
    hardening) and record CP7 evidence. Exit 1 if anything got through."""
    from cpmap.gateway.check import run, run_served

    ws = _ws(workspace)
    if serve is not None:
        result = run_served(ws, name, serve)
        url = result.url
    else:
        result = run(ws, name, url)

    def table(value: dict[str, Any]) -> None:
        from cpmap.formats.table import render

        render([{**c, "verdict": "pass" if c["ok"] else "fail",
                 "problems": "; ".join(c["problems"])} for c in value["checks"]],
               ["check", "expected", "status", "verdict", "problems"],
               title=f"gateway check {name}@{value['version']} at {url}")

    emit(result.to_dict(), fmt.value, None, table)
    ok = sum(1 for c in result.results if c["ok"])
    stderr_console().print(f"{ok}/{len(result.results)} checks passed; evidence "
                           f"#{result.entry}", markup=False)
    if not result.passed:
        raise typer.Exit(1)
