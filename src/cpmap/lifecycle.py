"""The end-to-end pipeline behind ``cpmap demo``: the five phases, in order, on built-in data.

Each control point contributes one stage (a function ``run(ctx) -> StageResult`` in its package's
``demo`` module) registered in :data:`STAGES`. Stages share a :class:`DemoContext`: the
workspace, a work directory holding the demo project's files, and ``artifacts`` through which an
earlier stage hands what it made (dataset paths, model names) to later ones.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpmap.core.workspace import Workspace

# (control, title, "module:function"). Order is the lifecycle order.
STAGES: list[tuple[str, str, str]] = [
    ("CP1", "Data provenance & integrity", "cpmap.provenance.demo:run"),
    ("CP2", "Data privacy & anonymization", "cpmap.privacy.demo:run"),
    ("CP3", "Supply chain: dependencies, SBOM, images, access", "cpmap.supplychain.demo_deps:run"),
    ("CP3", "Supply chain: secrets and model files", "cpmap.supplychain.demo_scan:run"),
    ("CP4", "Adversarial robustness", "cpmap.robustness.demo:run"),
    ("CP5", "AI penetration testing", "cpmap.redteam.demo:run"),
    ("CP6", "Model governance", "cpmap.registry.demo:run"),
]


@dataclass
class DemoContext:
    ws: Workspace
    workdir: Path
    log: Callable[[str], None]
    artifacts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageResult:
    control: str
    ok: bool
    lines: tuple[str, ...]
    seconds: float = 0.0


def _load(target: str) -> Callable[[DemoContext], StageResult]:
    module, func = target.split(":")
    fn: Callable[[DemoContext], StageResult] = getattr(importlib.import_module(module), func)
    return fn


def run(ctx: DemoContext, only: set[str] | None = None,
        on_stage: Callable[[str, str], None] | None = None,
        on_result: Callable[[StageResult], None] | None = None) -> list[StageResult]:
    """Run every registered stage (or those in ``only``) in lifecycle order."""
    results = []
    for control, title, target in STAGES:
        if only and control not in only:
            continue
        if on_stage is not None:
            on_stage(control, title)
        start = time.perf_counter()
        result = _load(target)(ctx)
        done = StageResult(result.control, result.ok, result.lines, time.perf_counter() - start)
        results.append(done)
        if on_result is not None:
            on_result(done)
    return results
