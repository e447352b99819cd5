"""CP9 stage: drift on a shifted and a clean slice of traffic, a golden set, slow poisoning.

It needs CP6's ``registry_model`` (in production after CP7). From the version's own training
data (an ``.npz``, as the digits are) it cuts a reference, a golden set and a clean slice of
traffic (no drift), and shows the same slice seen through a dimmer camera (drift, with a plot
per drifted feature); it registers the signed golden set and re-validates the version on
it, then simulates eight rounds of slow label flipping (a little more of one class relabelled
as another each round) that the step-to-step tests call clean and the CUSUMs against the
training anchor flag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cpmap.lifecycle.context import Context, StageResult

ROUNDS = 8


def run(ctx: Context) -> StageResult:
    from cpmap.errors import Error

    name = ctx.artifacts.registry_model  # CP6 made it
    try:
        lines, ok = _run(ctx, name)
    except Error as e:
        return StageResult("CP9", False, (f"drift stage failed: {e.diagnostics()}",))
    return StageResult("CP9", ok, tuple(lines))


def _raw(ctx: Context, name: str) -> tuple[Any, str, np.ndarray, np.ndarray]:
    from cpmap.drift import models as md
    from cpmap.drift.jobs import training_ref
    from cpmap.errors import InputError
    from cpmap.provenance.datasets import get_dataset

    mv = md.version(ctx.ws, name)
    ref = training_ref(mv)
    path = Path(get_dataset(ctx.ws, ref).path)
    if path.is_dir():
        path = next(iter(sorted(path.rglob("*.npz"))), path)
    if path.suffix != ".npz":
        raise InputError(f"{ref}: the CP9 demo slices .npz training data; this is {path.name}")
    with np.load(path, allow_pickle=False) as data:
        return mv, ref, np.asarray(data["x"]).reshape(len(data["x"]), -1), np.asarray(data["y"])


def _write(path: Path, x: np.ndarray, y: np.ndarray) -> str:
    np.savez(path, x=x, y=y)
    return str(path)


def golden_run(ctx: Context, ref: str) -> Any:
    """Run version ``ref`` on its golden set, first registering one (a seeded sixth of its
    training data, signed) when there is none: the CP7 stage calls it before promoting, as
    production requires a passing golden-set run (CP9)."""
    from cpmap.drift import golden
    from cpmap.errors import InputError
    from cpmap.provenance.datasets import get_dataset

    mv, _, x, y = _raw(ctx, ref)
    try:
        get_dataset(ctx.ws, f"{mv.name}-golden")
    except InputError:
        work = ctx.workdir / "cp9"
        work.mkdir(parents=True, exist_ok=True)
        gold = np.random.default_rng(9).permutation(len(y))[:len(y) // 6]  # as _run cuts it
        golden.register(ctx.ws, f"{mv.name}-golden",
                        Path(_write(work / "golden.npz", x[gold], y[gold])))
    return golden.run(ctx.ws, mv.ref)


def _run(ctx: Context, name: str) -> tuple[list[str], bool]:
    from cpmap.drift import jobs, poisonjob
    from cpmap.drift.policy import load_policy

    ws, work = ctx.ws, ctx.workdir / "cp9"
    work.mkdir(parents=True, exist_ok=True)
    mv, train_ref, x, y = _raw(ctx, name)
    rng = np.random.default_rng(9)
    idx = rng.permutation(len(y))
    n = len(y)
    traffic, rest = idx[n // 6:n // 2], idx[n // 2:]  # idx[:n // 6]: the golden set
    dim = x.astype(np.float64)[traffic]
    dim[:, : x.shape[1] // 2] *= 0.6  # a dimmer camera on half of the inputs
    policy = load_policy(ws)
    lines = [f"{mv.ref}: reference = {len(rest)} rows of its training data {train_ref}, "
             f"traffic = {len(traffic)} other rows"]
    reference = _write(work / "reference.npz", x[rest], y[rest])
    clean = jobs.drift(ws, reference, _write(work / "traffic-clean.npz", x[traffic],
                                             y[traffic]), policy, model=mv.ref)
    shifted = jobs.drift(ws, reference, _write(work / "traffic-dim.npz", dim, y[traffic]),
                         policy, model=mv.ref, max_plots=4)
    for label, job in (("clean slice", clean), ("shifted slice", shifted)):
        r = job.result
        lines.append(f"drift on the {label} ({r.current['rows']} rows): "
                     f"{len(r.drifted)}/{len(r.features)} feature test(s) drifted (BH), "
                     f"domain classifier AUC {r.multivariate.auc} -> "
                     f"{'DRIFT' if r.drift else 'no drift'} (evidence #{job.entry}, "
                     f"{len(job.figures)} plot(s))")
    g = golden_run(ctx, mv.ref)  # the CP7 stage registered it before promoting
    lines.append(f"golden set {g.golden}: accuracy {g.accuracy:.3f} (95% lower "
                 f"{g.accuracy_lower:.3f}) -> {'pass' if g.passed else 'FAIL'} "
                 f"(evidence #{g.entry}; production may require a fresh one)")
    p = _poisoning(ws, mv, work, x, y, rng, poisonjob)
    lines.append(f"slow poisoning, {ROUNDS} rounds of label flipping: step-to-step tests "
                 f"flagged {p.result.step_flags}, CUSUM against the anchor flagged "
                 f"{len(p.result.flagged)} (first: "
                 f"{p.result.flagged[0].name if p.result.flagged else '-'}); labels disputed "
                 f"by class: {p.result.disagreement.get('flagged') or '-'} "
                 f"(evidence #{p.entry})")
    ok = (not clean.result.drift and shifted.result.drift and g.passed
          and p.result.poisoned and p.result.step_flags == 0)
    return lines, ok


def _poisoning(ws: Any, mv: Any, work: Path, x: np.ndarray, y: np.ndarray,
               rng: np.random.Generator, poisonjob: Any) -> Any:
    """Rounds of 300 rows in which a growing share of one class is relabelled as another."""
    classes = np.unique(y)
    source, target = classes[0], classes[-1]
    rounds = []
    for t in range(1, ROUNDS + 1):
        pick = rng.choice(len(y), 300, replace=False)
        labels = y[pick].copy()
        flip = (labels == source) & (rng.random(300) < 0.12 * t)
        labels[flip] = target
        rounds.append(_write(work / f"round-{t}.npz", x[pick], labels))
    return poisonjob.run(ws, mv.name, rounds=rounds, golden=f"{mv.name}-golden")
