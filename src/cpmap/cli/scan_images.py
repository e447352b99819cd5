"""``cpmap scan images``: container images in Dockerfiles, compose files and Kubernetes YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import (
    FindingsFmt,
    FindingsFormatOpt,
    OutputOpt,
    WorkspaceOpt,
    emit_findings,
    stderr_console,
)


def images(
    path: Annotated[Path, typer.Argument(help="A file or a directory to scan.")],
    workspace: WorkspaceOpt = None,
    fmt: FindingsFormatOpt = FindingsFmt.table,
    output: OutputOpt = None,
) -> None:
    """Flag images not pinned by digest, 'latest' tags and images outside [images] allow.

    Exit 1 when there are findings, 0 when every image is pinned and allowed.
    """
    from cpmap.cli.common import optional_workspace
    from cpmap.supplychain import images as img

    ws = optional_workspace(workspace)
    rules = img.workspace_allowlist(ws)
    report = img.scan(path, rules)

    def table() -> None:
        from cpmap.formats.table import findings as render_findings
        from cpmap.formats.table import render

        render([{"image": u.ref, "where": f"{u.path}:{u.line or '?'}", "context": u.context}
                for u in report.uses], title=f"images in {path}")
        if report.findings:
            render_findings(list(report.findings), title="image findings")
        _summary(report)

    emit_findings(list(report.findings), fmt.value, output, table, report.to_dict(),
                  title="Container images")
    if ws is not None:
        entry = img.record_evidence(report, ws)
        stderr_console().print(f"CP3 evidence recorded: ledger entry {entry.index}")
    if report.findings:
        raise typer.Exit(1)


def _summary(report: Any) -> None:
    err = stderr_console()
    for s in report.skipped:
        err.print(f"skipped {s.path}: {s.reason}", markup=False, highlight=False)
    m = report.metrics()
    err.print(f"{m['images']} images in {m['files']} files, {m['pinned']} pinned by digest, "
              f"{m['findings']} findings")
