"""``cpmap scan secrets``: tokens, keys and passwords in a tree, its notebooks and git history."""

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


def secrets(
    path: Annotated[Path, typer.Argument(help="A file or a directory to scan.")],
    history: Annotated[bool, typer.Option("--history", help="Also scan every commit's added "
                                          "lines (git log -p).")] = False,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="JSON file of reviewed "
                                                  "findings that do not fail the scan.")] = None,
    update_baseline: Annotated[bool, typer.Option("--update-baseline", help="Write every "
                                                  "current finding to --baseline and exit 0.")
                               ] = False,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Glob of paths to "
                                                      "skip (repeatable).")] = None,
    max_size: Annotated[int, typer.Option("--max-size", min=1, help="Skip files larger than "
                                          "this many MiB.")] = 10,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes "
                                             "(default: up to 4 on large trees).")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FindingsFormatOpt = FindingsFmt.table,
    output: OutputOpt = None,
) -> None:
    """Find secrets; report path, line, rule and a masked value only.

    Exit 1 when an unreviewed secret is found, 0 when clean, 2 on bad input.
    """
    from cpmap.cli.common import optional_workspace
    from cpmap.errors import InputError
    from cpmap.supplychain.secrets import baseline as bl
    from cpmap.supplychain.secrets import scan_tree
    from cpmap.supplychain.secrets.settings import workspace_settings

    ws = optional_workspace(workspace)
    if ws is not None:  # [secrets] baseline / exclude in cpmap.toml (CPMAP_SECRETS_*)
        settings = workspace_settings(ws)
        baseline = baseline or settings.baseline
        exclude = [*(exclude or ()), *settings.exclude]
    if update_baseline and baseline is None:
        raise InputError("--update-baseline needs --baseline FILE")
    if update_baseline and baseline is not None:
        bl.check_overwritable(baseline)  # before the scan: nothing runs on a bad path
    known = bl.load(baseline) if baseline is not None and not update_baseline else set()
    scan = scan_tree(path, history=history, baseline=known,
                     exclude=tuple(str(g) for g in exclude or ()), max_bytes=max_size << 20,
                     jobs=jobs)
    err = stderr_console()
    if update_baseline and baseline is not None:
        n = bl.dump(baseline, scan.findings)
        err.print(f"baseline {baseline}: {n} reviewed finding(s)")
        return
    active = scan.active

    def table() -> None:
        from cpmap.formats.table import render

        rows = [{"path": f.path, "line": f.line, "rule": f.rule, "severity": f.severity,
                 "secret": f.masked, **({"commit": (f.commit or "")[:12]} if history else {})}
                for f in active]
        render(rows, title=f"secrets in {path}")

    emit_findings([f.to_finding() for f in active], fmt.value, output, table, scan.to_dict(),
                  title="Secrets", base=path if path.is_dir() else path.parent)
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(scan.files_skipped.items()))
    err.print(f"{scan.files_scanned} files scanned" + (f" ({skipped} skipped)" if skipped else "")
              + f", {len(active)} secret(s)"
              + (f", {len(scan.findings) - len(active)} baselined" if baseline else ""),
              markup=False, highlight=False)
    if ws is not None:
        from cpmap.supplychain.secrets.evidence import record_scan

        entry = record_scan(scan, ws)
        err.print(f"CP3 evidence recorded: ledger entry {entry.index}")
    if active:
        raise typer.Exit(1)
