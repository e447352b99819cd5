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

    Files in a directory that are not recognised as model files are listed as unclassified.

    Exit 1 when any file is suspicious or malicious, 0 when all are safe, 2 on bad input.
    """
    from cpmap.cli.common import optional_workspace
    from cpmap.supplychain.modelfiles import scan_tree, summary
    from cpmap.supplychain.modelfiles.evidence import findings_for

    scans = [scan_tree(p) for p in paths]
    reports = [r for s in scans for r in s.reports]
    other = [u for s in scans for u in s.unclassified]
    counts = summary(reports)

    def table() -> None:
        from cpmap.formats.table import render

        render([{"path": r.path, "format": r.format, "verdict": r.verdict.value,
                 "reasons": "; ".join(x.message for x in r.reasons
                                      if x.verdict.value != "safe")[:300]}
                for r in reports], title="model files")
        if other:
            render([u.to_dict() for u in other], title="not recognised as model files")

    value = {"files": [r.to_dict() for r in reports], "summary": counts,
             "unclassified": [u.to_dict() for u in other]}
    emit_findings(findings_for(reports), fmt.value, output, table, value, title="Model files")
    err = stderr_console()
    err.print(f"{len(reports)} file(s): {counts['safe']} safe, {counts['suspicious']} "
              f"suspicious, {counts['malicious']} malicious"
              + (f"; {len(other)} other file(s) not recognised as model files, not scanned"
                 if other else ""))
    ws = optional_workspace(workspace)
    if ws is not None and reports:
        from cpmap.supplychain.modelfiles.evidence import record_scan

        entry = record_scan(reports, ws, other)
        err.print(f"CP3 evidence recorded: ledger entry {entry.index}")
    elif ws is not None:
        err.print("no model file found: no CP3 evidence recorded")
    if counts["suspicious"] or counts["malicious"]:
        raise typer.Exit(1)
