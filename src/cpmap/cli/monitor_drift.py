"""``cpmap monitor`` (CP9 part): drift, performance, golden sets, slow poisoning.

Exit codes: 0 no drift / pass, 1 drift / drop / poisoning / failed golden run, 2 bad input.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import (
    Fmt,
    FormatOpt,
    OutputOpt,
    WorkspaceOpt,
    emit,
    optional_workspace,
    stderr_console,
    write_text,
)

app = typer.Typer(no_args_is_help=True)
golden_app = typer.Typer(no_args_is_help=True, help="CP9: golden sets (register, run).")
app.add_typer(golden_app, name="golden")


class DriftFmt(StrEnum):
    table = "table"
    json = "json"
    html = "html"


LabelOpt = Annotated[str | None, typer.Option(help="Label column (default: the dataset's).")]


def _ws(path: Path | None) -> Any:
    from cpmap.core.workspace import open_workspace

    return open_workspace(path)


def _render(rows: list[dict[str, Any]], title: str) -> None:
    from cpmap.formats.table import render

    render(rows, title=title)


def _out_dir(out: Path | None) -> Path | None:
    from cpmap.errors import InputError

    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file (-o takes a directory)")
    return out


@app.command()
def drift(
    reference: Annotated[str | None, typer.Argument(
        help="Dataset name[@version], or a CSV/Parquet/JSONL/.npz file.")] = None,
    current: Annotated[str | None, typer.Argument(help="The same kinds as REFERENCE.")] = None,
    from_log: Annotated[str | None, typer.Option(
        "--from-log", help="Current side: the gateway prediction log of model NAME.")] = None,
    since: Annotated[str | None, typer.Option(help="Log window: 30m, 24h, 7d.")] = None,
    model: Annotated[str | None, typer.Option(help="Record the evidence about this model "
                                                   "version (NAME[@V]).")] = None,
    engine: Annotated[str, typer.Option(help="memory, or dask (partitioned Parquet).")] = "memory",
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (default: a LocalCluster).")] = None,
    alpha: Annotated[float | None, typer.Option(help="False-discovery rate.")] = None,
    min_effect: Annotated[float | None, typer.Option(help="Smallest effect that drifts.")] = None,
    correction: Annotated[str | None, typer.Option(help="bh, bonferroni or none.")] = None,
    fmt: Annotated[DriftFmt, typer.Option("--format", "-f", help="Output format.")]
    = DriftFmt.table,
    out: Annotated[Path | None, typer.Option("--output", "-o",
                                             help="Directory for drift.json/.html.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Test CURRENT against REFERENCE per feature and jointly. Exit 1 on drift, 0 none."""
    from cpmap.drift import jobs
    from cpmap.drift.policy import load_policy

    out = _out_dir(out)
    ws = optional_workspace(workspace)
    policy = load_policy(ws, alpha=alpha, min_effect=min_effect, correction=correction)
    job = jobs.drift(ws, reference, current, policy, from_log=from_log, since=since,
                     model=model, engine=engine, scheduler=scheduler,
                     plots=fmt is DriftFmt.html or ws is not None)
    _emit_drift(job, fmt, out)
    if job.entry is not None:
        stderr_console().print(f"recorded CP9 drift evidence #{job.entry}")
    if job.result.drift:
        raise typer.Exit(1)


def _emit_drift(job: Any, fmt: DriftFmt, out: Path | None) -> None:
    from cpmap.drift.page import page, rows

    result = job.result
    if fmt is DriftFmt.html:
        text = page(result, list(job.figures))
        target = out / "drift.html" if out else None
    elif fmt is DriftFmt.json:
        from cpmap.formats.jsonfmt import dumps

        text = dumps({**result.to_dict(), "entry": job.entry})
        target = out / "drift.json" if out else None
    else:
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        mv = result.multivariate
        _render(rows(result), f"drift: {'DRIFT' if result.drift else 'none'}; "
                              f"multivariate AUC {mv.auc} p={mv.p_value}")
        return
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
    write_text(text, target)


@app.command()
def performance(
    name: Annotated[str, typer.Argument(help="Model NAME[@VERSION] served by the gateway.")],
    labels: Annotated[Path | None, typer.Option(
        help="Delayed labels: CSV/JSONL with id,label[,row]. Without: an estimate.")] = None,
    since: Annotated[str | None, typer.Option(help="Log window: 24h, 7d.")] = None,
    window: Annotated[str, typer.Option(help="Window width: 1h, 1d.")] = "1h",
    alpha: Annotated[float, typer.Option(help="Level of the drop test (BH over windows).")]
    = 0.05,
    min_drop: Annotated[float, typer.Option(help="Smallest accuracy drop that alerts.")] = 0.02,
    min_rows: Annotated[int, typer.Option(help="Rows a window needs to be tested.")] = 30,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
    output: OutputOpt = None,
) -> None:
    """Accuracy, macro F1, per-class recall per window against the validation figure.

    Exit 1 on a significant drop (labels), 0 otherwise (an estimate never fails).
    """
    from cpmap.drift.perfjob import run

    job = run(_ws(workspace), name, labels, since=since, window=window, alpha=alpha,
              min_drop=min_drop, min_rows=min_rows)
    r = job.result
    value = {"model": job.model, "entry": job.entry, "unmatched_labels": job.unmatched,
             **r.to_dict()}

    def table(_v: Any) -> None:
        _render([{"window": f"w{i + 1}", "rows": w.rows,
                  "accuracy" + (" (est.)" if w.estimated else ""): w.accuracy,
                  "macro F1": w.macro_f1, "p (adj.)": w.p_adjusted,
                  "drop": "DROP" if w.dropped else "-"} for i, w in enumerate(r.windows)],
                f"{job.model}: baseline {r.baseline} ({r.baseline_source})")

    emit(value, fmt.value, output, table)
    if r.dropped and not r.estimated:
        raise typer.Exit(1)


@golden_app.command("register")
def golden_register(
    name: Annotated[str, typer.Argument(help="Golden set name (a CP1 dataset name).")],
    data: Annotated[Path, typer.Option("--data", help="Labelled CSV/Parquet/JSONL/.npz.")],
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Sign and register a golden set as a CP1 dataset."""
    from cpmap.drift.golden import register

    dv = register(_ws(workspace), name, data)
    emit(dv.to_dict(), fmt.value, None,
         lambda v: _render([{"dataset": dv.ref, "sha256": dv.digest[:16], "path": dv.path}],
                           "golden set registered (signed)"))


@golden_app.command("run")
def golden_run(
    model: Annotated[str, typer.Argument(help="MODEL[@VERSION] (default: production, else "
                                              "latest).")],
    golden: Annotated[str | None, typer.Option(help="Golden set (default MODEL-golden).")]
    = None,
    max_drop: Annotated[float | None, typer.Option(help="Allowed accuracy drop.")] = None,
    min_accuracy: Annotated[float | None, typer.Option(help="Accuracy floor.")] = None,
    label: LabelOpt = None,
    review: Annotated[bool | None, typer.Option(
        "--review/--no-review", help="Queue the rows the model gets wrong for human review "
        "(CP10, reason golden-disagreement). Default: when the run fails, unless [review] "
        "golden = false.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
    output: OutputOpt = None,
) -> None:
    """Re-validate a version on its golden set. Exit 1 on a drop beyond the policy."""
    from cpmap.drift.golden import load_policy, run

    ws = _ws(workspace)
    result = run(ws, model, golden, load_policy(ws, max_drop=max_drop,
                                                min_accuracy=min_accuracy), label)
    value = result.to_dict()
    if review if review is not None else (not result.passed
                                          and bool(ws.setting("review", "golden", True))):
        from cpmap.review.golden import from_golden

        value["review_items"] = from_golden(ws, result.model, result.golden, label)
    emit(value, fmt.value, output, lambda v: _render(
        [{k: v[k] for k in ("model", "golden", "rows", "accuracy", "accuracy_lower_95",
                            "macro_f1", "verdict")}], "; ".join(result.reasons) or "golden run"))
    if not result.passed:
        raise typer.Exit(1)


@app.command()
def poisoning(
    name: Annotated[str, typer.Argument(help="Model NAME (its versions' training data are the "
                                             "rounds).")],
    anchor: Annotated[str | None, typer.Option(
        help="The fixed anchor (default: the first version's training data).")] = None,
    round_: Annotated[list[str] | None, typer.Option(
        "--round", help="A batch, in order (repeatable; default: later versions' data).")]
    = None,
    golden: Annotated[str | None, typer.Option(help="Golden set (default NAME-golden).")]
    = None,
    label: LabelOpt = None,
    h: Annotated[float, typer.Option(help="CUSUM alarm threshold.")] = 8.0,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
    output: OutputOpt = None,
) -> None:
    """Judge each round against the fixed training anchor. Exit 1 when poisoning is likely."""
    from cpmap.drift.poisoning import PoisonPolicy
    from cpmap.drift.poisonjob import run

    job = run(_ws(workspace), name, anchor=anchor, rounds=round_ or (), golden=golden,
              label=label, policy=PoisonPolicy(h=h))
    r = job.result
    value = {"model": job.model, "anchor": job.anchor, "entry": job.entry, **r.to_dict()}

    def table(_v: Any) -> None:
        _render([x.to_dict() for x in r.rounds],
                f"{job.model} vs anchor {job.anchor}: "
                f"{'POISONING' if r.poisoned else 'clean'}")

    emit(value, fmt.value, output, table)
    if r.poisoned:
        raise typer.Exit(1)
