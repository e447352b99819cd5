"""``cpmap scan model``: a safe/suspicious/malicious verdict per model file, never loading it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cpmap.cli.common import (
    FindingsFmt,
    FindingsFormatOpt,
    OutputOpt,
    WorkspaceOpt,
    emit_findings,
    stderr_console,
)


def model(
    paths: Annotated[list[Path], typer.Argument(help="Model files or directories to scan.")],
    workspace: WorkspaceOpt = None,
    fmt: FindingsFormatOpt = FindingsFmt.table,
    output: OutputOpt = None,
) -> None:
    """Give each model file a verdict (safe, suspicious, malicious) without loading it.

    Pickles are checked opcode by opcode against an allowlist; torch, numpy, joblib, Keras,
    ONNX, skops and safetensors containers are opened with limits.

    Exit 1 when any file is suspicious or malicious, 0 when all are safe, 2 on bad input.
    """
    from cpmap.cli.scan_deps import optional_workspace
    from cpmap.supplychain.modelfiles import scan_path, summary
    from cpmap.supplychain.modelfiles.evidence import findings_for

    reports = [r for p in paths for r in scan_path(p)]
    counts = summary(reports)

    def table() -> None:
        from cpmap.formats.table import render

        render([{"path": r.path, "format": r.format, "verdict": r.verdict.value,
                 "reasons": "; ".join(x.message for x in r.reasons
                                      if x.verdict.value != "safe")[:300]}
                for r in reports], title="model files")

    value = {"files": [r.to_dict() for r in reports], "summary": counts}
    emit_findings(findings_for(reports), fmt.value, output, table, value, title="Model files")
    err = stderr_console()
    err.print(f"{len(reports)} file(s): {counts['safe']} safe, {counts['suspicious']} "
              f"suspicious, {counts['malicious']} malicious")
    ws = optional_workspace(workspace)
    if ws is not None and reports:
        from cpmap.supplychain.modelfiles.evidence import record_scan

        entry = record_scan(reports, ws)
        err.print(f"CP3 evidence recorded: ledger entry {entry.index}")
    if counts["suspicious"] or counts["malicious"]:
        raise typer.Exit(1)
