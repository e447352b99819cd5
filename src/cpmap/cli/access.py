"""``cpmap access``: check and review the least-privilege data access policy (CP3)."""

from __future__ import annotations

from typing import Annotated

import typer

from cpmap.cli.common import (
    FindingsFmt,
    FindingsFormatOpt,
    Fmt,
    FormatOpt,
    OutputOpt,
    WorkspaceOpt,
    emit_findings,
    emit_json,
    stderr_console,
)

app = typer.Typer(no_args_is_help=True)


@app.command()
def check(
    principal: Annotated[str, typer.Argument(help="Who asks, e.g. alice or trainer-bot.")],
    action: Annotated[str, typer.Argument(help="read, write, delete or admin.")],
    dataset: Annotated[str, typer.Argument(help="Dataset name (name@N accepted).")],
    columns: Annotated[str | None, typer.Option(
        "--columns", help="Comma-separated columns (default: the whole dataset).")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Say whether the policy allows PRINCIPAL to ACTION DATASET; exit 1 when denied."""
    from cpmap.core.workspace import open_workspace
    from cpmap.supplychain import access

    policy = access.workspace_policy(open_workspace(workspace))
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    decision = access.check(policy, principal, action, dataset, cols)
    if fmt == Fmt.json:
        emit_json(decision.to_dict())
    else:
        verdict = "[green]allowed[/]" if decision.allowed else "[bold red]denied[/]"
        stderr_console().print(f"{verdict}: {principal} {action} {decision.dataset}: "
                               f"{decision.reason}")
    if not decision.allowed:
        raise typer.Exit(1)


@app.command()
def review(
    workspace: WorkspaceOpt = None,
    fmt: FindingsFormatOpt = FindingsFmt.table,
    output: OutputOpt = None,
) -> None:
    """List over-broad grants: wildcards, write on raw data, unknown roles, unused principals.

    Records CP3 evidence; exit 1 when there are findings.
    """
    from cpmap.core.workspace import open_workspace
    from cpmap.supplychain import access

    ws = open_workspace(workspace)
    policy = access.workspace_policy(ws)
    findings = access.review(policy, access.raw_datasets(ws), access.ledger_principals(ws))

    def table() -> None:
        from cpmap.formats.table import findings as render

        render(findings, title="access review")
        stderr_console().print(f"{len(policy.principals)} principals, {len(policy.roles)} "
                               f"roles, {len(findings)} findings")

    emit_findings(findings, fmt.value, output, table,
                  {"principals": {k: list(v) for k, v in policy.principals.items()},
                   "findings": [f.to_dict() for f in findings]}, title="Access review")
    entry = access.record_review(ws, policy, findings)
    stderr_console().print(f"CP3 evidence recorded: ledger entry {entry.index}")
    if findings:
        raise typer.Exit(1)
