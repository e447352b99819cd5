"""``cpmap robustness``: evaluate a model under attack and plot its robustness curve."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from cpmap.cli.common import Fmt, FormatOpt, OutputOpt, WorkspaceOpt, emit, stderr_console

app = typer.Typer(no_args_is_help=True)


def _floats(text: str, what: str) -> list[float]:
    import math

    from cpmap.errors import InputError

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise InputError(f"{what} {text!r}: give numbers like 0.05,0.1,0.2") from e
    if not values or any(not math.isfinite(v) or v <= 0 or v > 1e6 for v in values):
        raise InputError(f"{what} {text!r}: values must be positive numbers")
    return sorted(set(values))


@contextmanager
def step_bar(total: int | None, label: str) -> Iterator[Callable[[str], None]]:
    """One tick per (attack, eps) run, on stderr when it is a terminal."""
    import sys

    if not sys.stderr.isatty():
        yield lambda _what: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[what]}"), console=stderr_console(),
                  transient=True) as bar:
        task = bar.add_task(label, total=total, what="")
        yield lambda what: bar.update(task, advance=1, what=what)


@app.command("evaluate")
def evaluate_cmd(
    model: Annotated[str, typer.Option("--model", help="Stored model (NAME, NAME@N, "
                                       "sha256:HEX), a model file, or an http(s) endpoint "
                                       "(black-box; key from $CPMAP_MODEL_API_KEY).")],
    data: Annotated[str, typer.Option("--data", help="Dataset reference (as for train).")],
    eps: Annotated[str, typer.Option("--eps", help="Comma-separated budgets.")] = "0.05,0.1,0.2",
    attacks: Annotated[str | None, typer.Option(
        "--attacks", help="fgsm,pgd,pgd-l2,apgd,square,hsj (default: fgsm,pgd,apgd,square for "
                          "PyTorch models, square,hsj for others).")] = None,
    samples: Annotated[int, typer.Option("--samples", help="Rows to attack (0: all).")] = 500,
    steps: Annotated[int, typer.Option("--steps", help="PGD steps.")] = 10,
    restarts: Annotated[int, typer.Option("--restarts", help="PGD random restarts.")] = 1,
    square_iters: Annotated[int, typer.Option(
        "--square-iters", help="Square queries per row; AutoAttack runs 5000 (a forest took "
        "13x longer for the same figures here), so fewer is reported as weaker.")] = 300,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    label: Annotated[str | None, typer.Option("--label", help="Class column of a table.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
    output: OutputOpt = None,
) -> None:
    """Robust accuracy per attack and eps, with gradient-masking checks; signed evidence.

    Exit 1 when a check or the [robustness] policy produced findings.
    """
    from cpmap.core.workspace import open_workspace
    from cpmap.errors import InputError
    from cpmap.robustness.evaluate import AttackSettings
    from cpmap.robustness.service import evaluate_model

    if not 1 <= steps <= 10_000 or not 1 <= restarts <= 100 or samples < 0:
        raise InputError("--steps 1..10000, --restarts 1..100 and --samples >= 0")
    if not 0 <= seed < 1 << 32:  # numpy seeds must be non-negative 32-bit
        raise InputError(f"--seed {seed}: must be in 0..{(1 << 32) - 1}")
    if not 1 <= square_iters <= 100_000:
        # 0 iterations would report the clean accuracy as robust accuracy
        raise InputError(f"--square-iters {square_iters}: must be in 1..100000")
    names = [a.strip() for a in attacks.split(",") if a.strip()] if attacks is not None else None
    if names == []:
        raise InputError(f"--attacks {attacks!r}: name at least one attack",
                         hint="fgsm, pgd, pgd-l2, apgd, apgd-t, fab-t, margin, square, hsj")
    settings = AttackSettings(steps=steps, restarts=restarts, square_iters=square_iters)
    ws = open_workspace(workspace)
    budgets = _floats(eps, "--eps")
    # Without --attacks the set depends on the model's kind, known only once it is loaded.
    runs = sum(1 if a in ("hsj", "fab-t") else len(budgets) for a in names) if names else None
    with step_bar(runs, f"attacking {model}") as tick:
        res = evaluate_model(ws, model, data, budgets, names, samples=samples, seed=seed,
                             settings=settings, label=label, on_step=tick)
    ev = res.evaluation

    def table(v: dict[str, Any]) -> None:
        from cpmap.formats.table import render

        render([{"attack": r["attack"], "eps": f"{r['eps']:g}",
                 "robust accuracy": f"{r['robust_accuracy']:.4f}",
                 "queries": "" if r["queries"] is None else str(r["queries"])}
                for r in v["results"]] + [
                {"attack": "worst case (per example)", "eps": f"{w['eps']:g}",
                 "robust accuracy": f"{w['robust_accuracy']:.4f}", "queries": ""}
                for w in v.get("worst_case", [])],
               title=f"{res.model} on {res.dataset.ref}: clean accuracy "
                     f"{v['clean_accuracy']:.4f} ({ev.samples} rows)")

    emit(ev.to_dict(), fmt.value, output, table)
    err = stderr_console()
    if res.plan:
        err.print(f"ran {res.plan}")
    from cpmap.robustness.runner import shortfall

    weaker = shortfall(ev.settings, [r.attack for r in ev.results])
    if weaker:
        err.print(f"[yellow]{weaker}[/]")
    for f in ev.findings:
        err.print(f"[yellow]{f.severity.value}[/] {f.rule_id}: {f.message}")
    if res.entry is not None:
        err.print(f"evidence: ledger entry {res.entry.index}")
    if ev.findings:
        raise typer.Exit(1)


@app.command("accept-masking")
def accept_masking(
    model: Annotated[str, typer.Option("--model", help="Stored model reference.")],
    rule: Annotated[str, typer.Option("--rule", help="CP4-MASK-... rule id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the risk is accepted.")],
    eps: Annotated[float | None, typer.Option("--eps", help="Only at this eps.")] = None,
    by: Annotated[str, typer.Option("--by", help="Who accepts it.")] = "",
    workspace: WorkspaceOpt = None,
) -> None:
    """Accept a gradient-masking finding with a recorded reason (the CP4 gate stops failing)."""
    from cpmap.core.workspace import open_workspace
    from cpmap.robustness.service import accept_masking as accept

    entry = accept(open_workspace(workspace), model, rule, reason, eps=eps, by=by)
    stderr_console().print(f"accepted {rule} on {model}: ledger entry {entry.index}")
