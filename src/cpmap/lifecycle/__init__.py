"""The end-to-end pipeline behind ``cpmap demo``: the five phases, in order, on built-in data.

Each control point contributes a stage, a function ``run(ctx: Context) -> StageResult`` in
``cpmap.lifecycle.stages.cpN``, declared by its control in the control registry (``Stage``
in ``<package>/control.py``) and run in map order. A stage reads what
earlier stages made from ``ctx.artifacts`` (typed fields, see :mod:`cpmap.lifecycle.artifacts`)
and returns what it made in ``StageResult.made``; :func:`run` hands the merged artifacts to the
next stage. A stage whose prerequisite was not made (its maker was left out with ``--only``)
fails with a line naming the artifact and the stage that makes it; the other stages still run.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from cpmap.errors import InputError
from cpmap.lifecycle.artifacts import Artifacts, MissingArtifact
from cpmap.lifecycle.context import Context, Outcome, StageResult

__all__ = ["STAGES", "Artifacts", "Context", "MissingArtifact", "Outcome", "Stage",
           "StageResult", "cpu_time", "run", "select"]

Stage = tuple[str, str, str]  # (control id, title, "module:function")

def registered() -> tuple[Stage, ...]:
    """Every control's stages from the control registry, in map order."""
    from cpmap.controls import all_controls

    return tuple((c.id, s.title, s.target) for c in all_controls() for s in c.stages)


STAGES: tuple[Stage, ...] = registered()  # the built-in lifecycle, for tests and benchmarks


def select(only: Iterable[str] | None, stages: Sequence[Stage] | None = None
           ) -> tuple[Stage, ...]:
    """The stages of the controls in ``only`` (all of them for None), in lifecycle order.

    A control id without a stage is bad input (raised before anything runs), never a run of
    nothing that passes.
    """
    stages = registered() if stages is None else stages
    if only is None:
        return tuple(stages)
    wanted = {c.strip().upper() for c in only if c.strip()}
    known = list(dict.fromkeys(s[0] for s in stages))
    unknown = sorted(wanted.difference(known))
    listed = f"(stages: {', '.join(known)})"
    if not wanted:
        raise InputError(f"--only: names no control {listed}")
    if unknown:  # shown on one line whatever the user typed
        shown = ",".join(u if u.isprintable() else repr(u) for u in unknown)
        raise InputError(f"--only {shown}: no lifecycle stage for "
                         f"{'that control' if len(unknown) == 1 else 'those controls'} {listed}")
    return tuple(s for s in stages if s[0] in wanted)


def _load(target: str) -> Callable[[Context], StageResult]:
    module, func = target.split(":")
    fn: Callable[[Context], StageResult] = getattr(importlib.import_module(module), func)
    return fn


def cpu_time() -> float:
    """CPU seconds used so far by this process (all threads) and its reaped children."""
    import resource

    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + child.ru_utime + child.ru_stime


def _run_one(ctx: Context, control: str, target: str) -> StageResult:
    start, cpu = time.perf_counter(), cpu_time()
    try:
        result = _load(target)(ctx)
    except MissingArtifact as e:
        result = StageResult(control, False, (
            f"{e.message}; run it first (cpmap demo --only {e.made_by},{control})",))
    return replace(result, seconds=time.perf_counter() - start, cpu_seconds=cpu_time() - cpu)


def run(ctx: Context, stages: Sequence[Stage] | None = None, only: Iterable[str] | None = None,
        on_stage: Callable[[str, str], None] | None = None,
        on_result: Callable[[StageResult], None] | None = None) -> Outcome:
    """Run ``stages`` (those of the controls in ``only``) in order; see the module doc."""
    results = []
    for control, title, target in select(only, stages):
        if on_stage is not None:
            on_stage(control, title)
        done = _run_one(ctx, control, target)
        ctx = replace(ctx, artifacts=ctx.artifacts.merge(done.made))
        results.append(done)
        if on_result is not None:
            on_result(done)
    return Outcome(tuple(results), ctx.artifacts)
