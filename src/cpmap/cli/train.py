"""``cpmap train``: train a model on a dataset reference and store it with its record."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import Fmt, FormatOpt, WorkspaceOpt, emit_json, stderr_console


@contextmanager
def epoch_bar(total: int, label: str) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A per-epoch progress bar with loss and accuracy on stderr (only on a terminal)."""
    import sys

    if not sys.stderr.isatty():
        yield lambda _stats: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), console=stderr_console(),
                  transient=True) as bar:
        task = bar.add_task(label, total=total, info="")

        def advance(stats: dict[str, Any]) -> None:
            info = f"loss {stats['loss']:.4f} acc {stats['train_accuracy']:.3f}"
            if "epsilon" in stats:
                info += f" ε {stats['epsilon']:.2f}"
            bar.update(task, advance=1, info=info)

        yield advance


def train(
    data: Annotated[str | None, typer.Option("--data", help="builtin:digits, builtin:customers, "
                                             "a registered dataset, or a .npz/.csv/.parquet "
                                             "file or image folder.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Model name in the workspace.")] = None,
    arch: Annotated[str | None, typer.Option("--arch", help="logreg, mlp, cnn (PyTorch); "
                                             "forest, gbt, sk-logreg (scikit-learn).")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs")] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    label: Annotated[str | None, typer.Option("--label", help="Class column of a table.")] = None,
    hidden: Annotated[str | None, typer.Option("--hidden", help="Hidden sizes: 128,64.")] = None,
    lr: Annotated[float | None, typer.Option("--lr")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size")] = None,
    adversarial: Annotated[str | None, typer.Option("--adversarial", help="pgd or trades.")] = None,
    eps: Annotated[float | None, typer.Option("--eps", help="L-inf budget for adversarial "
                                              "training.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="PGD steps per batch.")] = None,
    distill_from: Annotated[str | None, typer.Option("--distill-from", help="Teacher model "
                                                     "(defensive distillation).")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature")] = None,
    dp_epsilon: Annotated[float | None, typer.Option("--dp-epsilon", help="Train with DP-SGD "
                                                     "(Opacus) at this epsilon, spent from the "
                                                     "dataset's privacy budget.")] = None,
    unsafe_reproducible_dp: Annotated[bool, typer.Option(
        "--unsafe-reproducible-dp", help="UNSAFE: draw DP-SGD noise and sampling from --seed "
        "(replayable by anyone with the seed; recorded as unsafe). Debugging only.")] = False,
    config: Annotated[Path | None, typer.Option("--config", help="TOML file with a [train] "
                                                "table (flags override it).")] = None,
    register: Annotated[bool, typer.Option("--register", help="Also register it as a new "
                                           "version of NAME in the CP6 registry.")] = False,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = Fmt.table,
) -> None:
    """Train a model (standard, PGD/TRADES adversarial, distilled or DP-SGD) and store it."""
    from cpmap.core.workspace import open_workspace
    from cpmap.errors import InputError
    from cpmap.robustness.config import load_toml, merge

    base = load_toml(config) if config is not None else {}
    data = data or base.get("data")
    name = name or base.get("name")
    if not data or not name:
        raise InputError("--data and --name are required (on the command line or in --config)")
    sizes = None
    if hidden is not None:
        try:
            sizes = tuple(int(h) for h in hidden.split(","))
        except ValueError as e:
            raise InputError(f"--hidden {hidden!r}: give sizes like 128,64") from e
    cfg = merge(base, {"arch": arch, "epochs": epochs, "seed": seed, "label": label,
                       "hidden": sizes, "lr": lr, "batch_size": batch_size,
                       "adversarial": adversarial, "eps": eps, "steps": steps,
                       "distill_from": distill_from, "temperature": temperature,
                       "dp_epsilon": dp_epsilon,
                       "unsafe_reproducible_dp": unsafe_reproducible_dp or None})
    ws = open_workspace(workspace)
    from cpmap.robustness.service import train_model

    with epoch_bar(cfg.epochs, f"training {name}") as advance:
        trained = train_model(ws, str(data), cfg, str(name), on_epoch=advance)
    mv = trained.version
    value = {"model": mv.ref, "digest": mv.digest, "format": mv.format, "arch": mv.arch,
             "metrics": trained.metrics, "datasets": mv.record.get("datasets", []),
             "dp": trained.outcome.dp, "evidence": mv.entry}
    if register:  # CP6: a signed registry version whose lineage is this training record
        from cpmap.registry.intake import register_any

        value["registry"] = register_any(ws, str(name), mv.ref, scan=True).version.ref
    warn_collapsed(trained.findings)
    if fmt == Fmt.json:
        emit_json({**value, "findings": [f.to_dict() for f in trained.findings]})
        raise typer.Exit(1 if trained.findings else 0)
    out = stderr_console()
    m = trained.metrics
    robust = {k: v for k, v in m.items() if k.startswith("robust_accuracy@")}
    out.print(f"stored [bold]{mv.ref}[/] sha256:{mv.digest[:16]} ({mv.format}, {mv.arch}); "
              f"evidence entry {mv.entry}" + (f"; registered as {value['registry']}"
                                              if register else ""))
    typer.echo(f"clean accuracy {m['clean_accuracy']:.4f}  " + "  ".join(
        f"robust {k.split('@')[1]}: {v:.4f}" for k, v in robust.items()) +
        f"  ({m['train_seconds']:.1f}s)" +
        (f"  DP epsilon {m['dp_epsilon']}" if "dp_epsilon" in m else ""))
    if trained.findings:
        raise typer.Exit(1)


def warn_collapsed(findings: Any) -> None:
    """A training run that collapsed (one class, base-rate accuracy) warns on stderr."""
    for f in findings:
        stderr_console().print(f"[yellow]{f.severity.value}[/] {f.rule_id}: {f.message}")
