"""The types a lifecycle stage sees: its :class:`Context` in, its :class:`StageResult` out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cpmap.lifecycle.artifacts import Artifacts

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


@dataclass(frozen=True)
class Context:
    """What a stage works with: the workspace, the project directory the stages write their
    files into, a log for progress lines, and the artifacts the earlier stages made."""

    ws: Workspace
    workdir: Path
    log: Callable[[str], None]
    artifacts: Artifacts = field(default_factory=Artifacts)


@dataclass(frozen=True)
class StageResult:
    """One stage's outcome: ok, the lines to show, its wall and CPU time (this process's
    threads and its finished child processes: less noisy than wall time on a shared machine),
    and what it hands on."""

    control: str
    ok: bool
    lines: tuple[str, ...]
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    made: Artifacts = field(default_factory=Artifacts)


@dataclass(frozen=True)
class Outcome:
    """A whole run: every stage's result in order and the artifacts all of them made."""

    results: tuple[StageResult, ...]
    artifacts: Artifacts

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)
