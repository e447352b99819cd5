"""``cpmap redteam``: CP5 campaigns (run), tracked findings (findings) and risk acceptance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cpmap.cli.common import (
    FindingsFmt,
    FindingsFormatOpt,
    OutputOpt,
    WorkspaceOpt,
    check_output,
    emit_findings,
    emit_json,
    stderr_console,
)

app = typer.Typer(no_args_is_help=True)

@app.command("run")
def run_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="Workspace model (name or "
                                       "name@N); with --endpoint, the model it serves.")],
    data: Annotated[str, typer.Option("--data", "-d", help="Dataset: builtin:digits, a "
                                      "registered name, or a path.")],
    plan: Annotated[Path | None, typer.Option("--plan", help="TOML plan selecting attacks "
                                              "and budgets (default: every attack).")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", help="Attack this HTTP "
                                                 "endpoint (black box) instead.")] = None,
    api_key_env: Annotated[str, typer.Option("--api-key-env", help="Environment variable "
                                             "holding the endpoint's API key.")]
    = "CPMAP_MODEL_API_KEY",
    label: Annotated[str | None, typer.Option("--label", help="Label column of a table.")]
    = None,
    fail_on: Annotated[str, typer.Option("--fail-on", help="Exit 1 when an open finding is "
                                         "at least this severe.")] = "high",
    workspace: WorkspaceOpt = None,
    fmt: FindingsFormatOpt = FindingsFmt.table,
    output: OutputOpt = None,
) -> None:
    """Run a red-team campaign; record CP5 evidence and track its findings.

    Exit 0 when no open finding reaches --fail-on, 1 otherwise, 2 on bad input.
    """
    from cpmap.core.workspace import open_workspace
    from cpmap.redteam.plan import load_plan
    from cpmap.redteam.report import fails, parse_fail_on

    threshold = parse_fail_on(fail_on)
    chosen = load_plan(plan)  # bad plans fail before torch is even imported
    check_output(output)  # and a bad --output before any evidence is recorded
    ws = open_workspace(workspace)
    err = stderr_console()
    from cpmap.redteam.service import run_campaign

    result = run_campaign(ws, model, data, plan=chosen, endpoint=endpoint,
                          api_key_env=api_key_env, label=label,
                          on_section=lambda s: err.print(f"[bold]{s}[/] ..."))
    findings = result.findings

    def table() -> None:
        from cpmap.formats.table import findings as findings_table
        from cpmap.formats.table import render
        from cpmap.redteam.report import summary_rows

        render(summary_rows(result), title=f"red-team campaign: {result.model} "
                                           f"sha256:{result.digest[:12]}")
        rows = [{"id": f.properties["id"], "severity": f.severity.value,
                 "status": f.properties.get("status", "open"), "rule": f.rule_id,
                 "message": f.message} for f in findings]
        render(rows, title="findings") if rows else findings_table([], title="findings")

    emit_findings(findings, fmt.value, output, table, result.to_json(),
                  title=f"Red-team campaign: {result.model}")
    err.print(f"recorded CP5 evidence at ledger index {result.entry}")
    for t in result.transitions:
        err.print(f"  {t.id} {t.rule_id}: {t.before or 'new'} -> {t.after}")
    if fails(findings, threshold):
        raise typer.Exit(1)


@app.command("findings")
def findings_cmd(
    only_open: Annotated[bool, typer.Option("--open", help="Only findings still open.")]
    = False,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model.")]
    = None,
    workspace: WorkspaceOpt = None,
    fmt: FindingsFormatOpt = FindingsFmt.table,
    output: OutputOpt = None,
) -> None:
    """List tracked red-team findings and their status (open, remediated, accepted)."""
    from cpmap.core.findings import Finding
    from cpmap.core.workspace import open_workspace
    from cpmap.redteam.tracking import list_findings

    rows = list_findings(open_workspace(workspace), model, only_open)
    findings = [Finding.from_dict({**r.finding, "properties": {
        **r.finding.get("properties", {}), "status": r.status, "reason": r.reason}})
        for r in rows if r.finding]

    def table() -> None:
        from cpmap.formats.table import render

        render([{"id": r.id, "model": r.model, "severity": r.severity, "status": r.status,
                 "rule": r.rule_id, "last seen": f"sha256:{r.last_digest[:12]}",
                 "note": r.reason or (f"fixed in sha256:{r.remediated_digest[:12]}"
                                      if r.remediated_digest else "")} for r in rows],
               title="red-team findings")

    if fmt == FindingsFmt.json:
        emit_json({"findings": [r.to_dict() for r in rows]}, output)
    else:
        emit_findings(findings, fmt.value, output, table, None, title="Red-team findings")


@app.command("accept")
def accept_cmd(
    finding: Annotated[str, typer.Argument(help="Finding id, e.g. RT-1a2b3c4d5e.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the risk is accepted.")],
    by: Annotated[str, typer.Option("--by", help="Who accepts it.")] = "",
    workspace: WorkspaceOpt = None,
) -> None:
    """Accept a finding's risk with a recorded reason (signed CP5 evidence)."""
    from cpmap.core.workspace import open_workspace
    from cpmap.redteam.tracking import accept

    row = accept(open_workspace(workspace), finding, reason, by)
    stderr_console().print(f"{row.id} ({row.rule_id}) accepted: {row.reason}")
