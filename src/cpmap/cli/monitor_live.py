"""``cpmap monitor`` (CP8): baselines, the monitored prediction log, status and alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import Fmt, FormatOpt, WorkspaceOpt, emit, stderr_console

app = typer.Typer(no_args_is_help=True)


def _ws(workspace: Path | None) -> Any:
    from cpmap.core.workspace import open_workspace

    return open_workspace(workspace)


@app.command("baseline")
def baseline(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION whose input baseline to build.")],
    fpr: Annotated[float, typer.Option(help="Target false-alarm rate of the OOD flag.")] = 0.01,
    seed: Annotated[int, typer.Option(help="Seed of the calibration split.")] = 0,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Build the version's input baseline from the training data in its lineage (signed)."""
    from cpmap.monitor.baseline import build

    base, entry = build(_ws(workspace), ref, fpr=fpr, seed=seed)
    value = {"model": base.model, "entry": entry.index, "baseline_sha256": base.sha256,
             **entry.predicate.get("metrics", {})}
    emit(value, fmt.value, None, lambda v: typer.echo(
        "\n".join(f"{k}: {x}" for k, x in v.items())))
    for line in entry.predicate.get("details", {}).get("highlights", []):
        stderr_console().print(line, markup=False, highlight=False)


@app.command("log")
def log_cmd(
    name: Annotated[str, typer.Argument(help="Model NAME or NAME@VERSION.")],
    since: Annotated[str | None, typer.Option(help="Window, e.g. 30m, 1h, 7d.")] = None,
    client: Annotated[str | None, typer.Option(help="Only this client (hashed to match).")
                      ] = None,
    ood: Annotated[bool, typer.Option("--ood", help="Only out-of-distribution records.")
                   ] = False,
    limit: Annotated[int, typer.Option(help="At most this many (newest).")] = 100,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Monitored prediction records: request_id, confidence, ood, ood_score, latency..."""
    from cpmap.monitor.predlog import parse_since, query

    seconds = parse_since(since) if since else None
    rows = query(_ws(workspace), name, since_s=seconds, client=client, ood_only=ood,
                 limit=limit)

    def table(value: list[dict[str, Any]]) -> None:
        from cpmap.formats.table import render

        render(value, ["request_id", "ts", "model", "client", "status", "rows", "confidence",
                       "ood", "ood_score", "latency_ms", "reason"], title="prediction log")

    emit(rows, fmt.value, None, table)


@app.command("status")
def status(
    name: Annotated[str, typer.Argument(help="Model NAME or NAME@VERSION.")],
    since: Annotated[str | None, typer.Option(help="Window, e.g. 1h (default: all).")] = None,
    record: Annotated[bool, typer.Option(
        "--record", help="Sign the summary (with its plot) as CP8 evidence.")] = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """The window: predictions, OOD rate with its interval, confidence, alerts, refusals."""
    from cpmap.monitor.predlog import parse_since
    from cpmap.monitor.status import record_summary, summarize

    ws = _ws(workspace)
    seconds = parse_since(since) if since else None
    value = summarize(ws, name, seconds)
    if record:
        value["entry"] = record_summary(ws, name, seconds)
    emit(value, fmt.value, None, lambda v: typer.echo(format_status(v)))


def format_status(v: dict[str, Any]) -> str:
    rate = v["ood_rate"]
    shown = (f"{rate['rate']:.1%} [{rate['low']:.1%}, {rate['high']:.1%}]"
             if isinstance(rate, dict) else str(rate))
    conf = "-" if v["mean_confidence"] is None else f"{v['mean_confidence']:.3f}"
    kinds = ", ".join(f"{k} {n}" for k, n in v["alert_kinds"].items()) or "none"
    top = ", ".join(f"{t['client'][:12]} ({t['refused']})" for t in v["top_refused"]) or "-"
    return "\n".join([f"model: {v['model']}",
                      f"predictions: {v['predictions']} ({v['scored']} scored, "
                      f"{v['refused']} refused)",
                      f"OOD: {v['ood']}, rate {shown}",
                      f"mean confidence: {conf} ({v['low_confidence']} below 0.5)",
                      f"alerts: {v['alerts']} ({kinds})",
                      f"top refused clients: {top}"])


@app.command("alerts")
def alerts_cmd(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Signed CP8 alerts: kind, ATLAS id, model, client (hashed), window, evidence entry."""
    from cpmap.monitor.status import alerts

    rows = alerts(_ws(workspace), name)

    def table(value: list[dict[str, Any]]) -> None:
        from cpmap.formats.table import render

        render(value, ["entry", "created_at", "alert", "atlas", "model", "client", "window",
                       "action", "message"], title="CP8 alerts")

    emit(rows, fmt.value, None, table)
