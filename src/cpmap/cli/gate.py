"""``cpmap gate NAME@VERSION``: evaluate the release gate for one model version."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from cpmap.cli.common import (
    OutputOpt,
    WorkspaceOpt,
    emit,
    emit_json,
    stderr_console,
    write_text,
)


class GateFmt(StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"
    junit = "junit"


def gate(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, NAME@ALIAS or NAME (latest).")],
    workspace: WorkspaceOpt = None,
    fmt: Annotated[GateFmt, typer.Option("--format", "-f", help="Output format.")]
    = GateFmt.table,
    output: OutputOpt = None,
    stage: Annotated[str | None, typer.Option(
        "--stage", help="Judge a promotion to this stage (e.g. production): controls whose "
        "rule lists it in required_for count as required.")] = None,
) -> None:
    """Check a model version against the [gate] policy. Exit 0 pass, 1 fail."""
    from cpmap.core.workspace import open_workspace
    from cpmap.gate import output as out
    from cpmap.gate.evaluate import gate as run_gate

    if stage is not None:
        from cpmap.errors import InputError
        from cpmap.registry.stages import STAGES

        if stage not in STAGES:
            raise InputError(f"--stage {stage!r}: one of {', '.join(STAGES)}")
    from cpmap.cli.common import check_output

    check_output(output)  # "-o DIR" once printed the table to stdout and exited 1
    ws = open_workspace(workspace)
    result = run_gate(ws, ref, stage=stage)
    if fmt == GateFmt.json:
        emit_json(result.to_dict(), output)
    elif fmt == GateFmt.sarif:
        from cpmap.formats.sarif import policy_anchor, to_sarif

        # a gate result is a policy decision: it points at the policy file, the model
        # reference stays in logicalLocations (GitHub refuses a model: URI)
        emit_json(to_sarif(out.findings(result), tool="cpmap-gate",
                           anchor=policy_anchor(ws.root)), output)
    elif fmt == GateFmt.junit:
        write_text(out.junit(result), output)
    else:  # the table goes to --output too, not to stdout
        emit(result, "table", output, out.table)
    msg = "[green]gate passed[/]" if result.passed else (
        "[red]gate failed[/]: " + ", ".join(f"{c.control} {c.status}" for c in result.failing()))
    stderr_console().print(f"{result.model}@{result.version}: {msg}")
    if not result.passed:
        raise typer.Exit(1)
