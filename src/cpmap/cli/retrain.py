"""``cpmap retrain NAME`` (one run now) and ``cpmap watch`` (the trigger worker) (CP10)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import Fmt, FormatOpt, WorkspaceOpt, emit, stderr_console, stdout_console


def _show_runs(runs: list[dict[str, Any]]) -> None:
    con = stdout_console()
    for r in runs:
        con.print(f"run {r['run_id']} {r['model']} ({r['trigger']}): {r['status']}"
                  + (f", candidate {r['candidate']}" if r.get("candidate") else ""))
        for b in r.get("batches", []):
            con.print(f"  batch {b['batch']}: " + ("accepted" if b["accepted"] else
                                                   f"refused by {b['refused_by']}: "
                                                   f"{b['reason']}"))
        for reason in r.get("gate_reasons", []):
            con.print(f"  gate: {reason}")


def retrain(
    name: Annotated[str, typer.Argument(help="Registry model name (its production version "
                                         "is retrained).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    batch: Annotated[list[Path] | None, typer.Option(
        "--batch", "-b", help="New labelled data (.csv with a label column, or .npz); repeat "
        "for several. Each is checked by CP1, CP2 and the poisoning check.")] = None,
    source: Annotated[str | None, typer.Option(
        "--source", help="Source URI of the batches (default: their file URI).")] = None,
    supplier: Annotated[str | None, typer.Option("--supplier", help="Trusted supplier key "
                                                 "name of the batches.")] = None,
    attestation: Annotated[Path | None, typer.Option(
        "--attestation", help="The supplier's signed attestation (with one --batch).")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Retrain NAME once: new data checked, production recipe, CP4/CP5, registry, gate.
    Exit 0 when the candidate passes the gate, 1 when it does not."""
    from cpmap.core.workspace import open_workspace
    from cpmap.errors import InputError
    from cpmap.retrain.pipeline import batch_from, run
    from cpmap.retrain.triggers import manual

    batches = [batch_from(b, source, supplier, attestation) for b in batch or []]
    if attestation is not None and len(batches) != 1:
        raise InputError("--attestation: give exactly one --batch it attests")
    ws = open_workspace(workspace)
    result = run(ws, name, manual(name, reason), batches, log=_log())
    emit([result.to_dict()], fmt.value, None, _show_runs)
    if not result.passed:
        raise typer.Exit(1)


def _log() -> Any:
    """Progress lines on stderr, as written (no markup: they quote settings like [x])."""
    err = stderr_console()
    return lambda m: err.print(m, markup=False, highlight=False)


def watch(
    name: Annotated[list[str] | None, typer.Argument(help="Models to watch (default: every "
                                                   "model with a production version).")]
    = None,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between passes.",
                                            min=1.0)] = 60.0,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Turn CP9 alerts and [retraining] schedule into retraining runs (one per trigger).
    With --once, exit 1 when a run failed (it is recorded; its trigger is not retried)."""
    from cpmap.core.workspace import open_workspace
    from cpmap.retrain.watch import watch as run_watch

    ws = open_workspace(workspace)
    failed: list[str] = []
    done = run_watch(ws, name or [], interval=interval, once=once, log=_log(), failed=failed)
    emit([r.to_dict() for r in done], fmt.value, None, _show_runs)
    if failed:
        raise typer.Exit(1)
