"""``cpmap demo``: the whole lifecycle on built-in data, then the Control Points Map report."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from cpmap.cli.common import stderr_console


def demo(
    workspace: Annotated[Path | None, typer.Option("--workspace", "-w", help="Run in this "
                                                   "directory (created if needed) instead of a "
                                                   "temporary one.")] = None,
    report: Annotated[Path, typer.Option("--report", "-o", help="Where to write the report.")]
    = Path("cpmap-report"),
    only: Annotated[str | None, typer.Option(help="Comma-separated controls to run, e.g. "
                                             "CP1,CP2 (default: all).")] = None,
) -> None:
    """Run every implemented control on built-in data and write the report."""
    from cpmap.core.workspace import DIRNAME, init, open_workspace
    from cpmap.formats.report import write_report
    from cpmap.lifecycle import Context, StageResult, cpu_time, run, select
    from cpmap.lifecycle.project import production_reports

    stages = select(only.split(",") if only else None)  # bad --only changes nothing
    out = stderr_console()
    from cpmap.errors import InputError

    if workspace is not None:  # "-w FILE" or "-w FILE/sub": named before anything is made
        blocker = next((p for p in (workspace, *workspace.parents)
                        if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise InputError(f"--workspace {workspace}: {blocker} is a file, not a directory")
    if report.exists() and not report.is_dir():
        raise InputError(f"--report {report}: is a file (the report is a directory)")
    root = workspace or Path(tempfile.mkdtemp(prefix="cpmap-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    ws = open_workspace(root) if (root / DIRNAME).exists() else init(root, "demo")
    out.print(f"[bold]cpmap demo[/] in {root}")
    logged: set[str] = set()  # what the running stage already printed

    def log(text: str) -> None:
        logged.add(text.strip())
        out.print(f"    {text}", markup=False, highlight=False)

    def start(control: str, title: str) -> None:
        logged.clear()
        out.print(f"[bold cyan]{control}[/] {title}")

    def show(r: StageResult) -> None:
        for line in r.lines:
            if line.strip() not in logged:
                out.print(f"    {line}", markup=False, highlight=False)
        out.print(f"    [{'green' if r.ok else 'red'}]{'done' if r.ok else 'FAILED'}[/] "
                  f"in {r.seconds:.1f}s (CPU {r.cpu_seconds:.1f}s)")

    ctx = Context(ws, root / "project", log)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    started, cpu = time.perf_counter(), cpu_time()
    outcome = run(ctx, stages, on_stage=start, on_result=show)
    path = write_report(ws, report)
    out.print(f"report: {path.resolve()}  ({time.perf_counter() - started:.0f}s in all, "
              f"CPU {cpu_time() - cpu:.0f}s)")
    if outcome.artifacts.has("registry_model"):
        for page in production_reports(ws, outcome.artifacts.registry_model, report):
            out.print(f"report of the production model: {page.resolve()}")
    out.print(f"workspace: {root} (try: cpmap ledger verify -w {root})")
    if not outcome.ok:
        raise typer.Exit(1)
