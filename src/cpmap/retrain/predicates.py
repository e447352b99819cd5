"""CP10 evidence kinds: triggers, intake checks of new data, runs, rollout steps, review.

The run's predicate carries the run history the report's CP10 cell shows (trigger, data
accepted and refused, review counts, gate result, canary comparison), so the cell reads typed
fields instead of guessing at dict keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cpmap.core.predicate import Predicate, detail, metric


@dataclass(frozen=True, kw_only=True)
class _CP10(Predicate):
    control: ClassVar[str] = "CP10"


@dataclass(frozen=True, kw_only=True)
class RetrainTrigger(_CP10):
    """A reason to retrain a model was accepted (once per trigger key: idempotent)."""

    kind: ClassVar[str] = "retrain-trigger"
    model: str = detail("")
    trigger: str = detail("")  # "manual" | "schedule" | "drift" | "performance" | ...
    key: str = detail("")  # the idempotence key: the CP9 entry, the schedule slot, a request
    reason: str = detail("")
    source_entry: int | None = detail()


@dataclass(frozen=True, kw_only=True)
class IntakeCheck(_CP10):
    """One new batch of data put through CP1, CP2 and the poisoning check: accepted or refused."""

    kind: ClassVar[str] = "retrain-intake"
    rows: int = metric(0, unit="count")
    accepted: bool = metric(False)
    batch: str = detail("")
    source: str = detail("")
    dataset: str | None = detail()  # the CP1 dataset ref it was registered as
    refused_by: str | None = detail()  # "CP1-source" | "CP1-attestation" | "CP2-pii" | ...
    reason: str = detail("")
    checks: tuple[Mapping[str, Any], ...] = detail(factory=tuple)


@dataclass(frozen=True, kw_only=True)
class RetrainRun(_CP10):
    """One retraining run, from its trigger to the gate (and the canary, when it got there)."""

    kind: ClassVar[str] = "retrain-run"
    batches_accepted: int = metric(0, unit="count")
    batches_refused: int = metric(0, unit="count")
    review_decided: int = metric(0, unit="count")
    gate_passed: bool = metric(False)
    run_id: str = detail("")
    model: str = detail("")
    trigger: str = detail("")
    trigger_key: str = detail("")
    production: str | None = detail()  # the version it retrained from
    candidate: str | None = detail()
    status: str = detail("")  # "gated" | "gate-failed" | "refused-data" | "failed"
    datasets: tuple[str, ...] = detail(factory=tuple)
    refused: tuple[Mapping[str, Any], ...] = detail(factory=tuple)
    gate_reasons: tuple[str, ...] = detail(factory=tuple)
    recipe: Mapping[str, Any] = detail(factory=dict)
    # the model's earlier runs, newest last: run_id, trigger, status, candidate, accepted,
    # refused (what the report's CP10 cell lists as the run history)
    history: tuple[Mapping[str, Any], ...] = detail(factory=tuple)

    def history_lines(self) -> list[str]:
        return [f"run {h.get('run_id')} ({h.get('trigger')}): {h.get('status')}, batches "
                f"{h.get('accepted', 0)} accepted / {h.get('refused', 0)} refused"
                + (f", candidate {h['candidate']}" if h.get("candidate") else "")
                for h in self.history]


@dataclass(frozen=True, kw_only=True)
class RolloutStep(_CP10):
    """A canary step: started, compared, promoted, rolled back or aborted."""

    kind: ClassVar[str] = "retrain-rollout"
    share: float = metric(0.0, unit="ratio")
    model: str = detail("")
    candidate: str = detail("")
    production: str = detail("")
    action: str = detail("")  # "start" | "promote" | "rollback" | "abort"
    regressions: tuple[str, ...] = detail(factory=tuple)
    comparison: Mapping[str, Any] = detail(factory=dict)
    alert: str | None = detail()


@dataclass(frozen=True, kw_only=True)
class ReviewDecision(_CP10):
    """A reviewer's decision on a flagged prediction (true label, attack, noise or skip)."""

    kind: ClassVar[str] = "review-decision"
    item: int = metric(0)
    reviewer: str = detail("")
    decision: str = detail("")
    label: str | None = detail()
    final: bool = detail(False)


@dataclass(frozen=True, kw_only=True)
class ReviewExport(_CP10):
    """The curated dataset exported from final review decisions."""

    kind: ClassVar[str] = "review-export"
    rows: int = metric(0, unit="count")
    attacks: int = metric(0, unit="count")
    model: str = detail("")
    dataset: str = detail("")
    items: tuple[int, ...] = detail(factory=tuple)


KINDS = (RetrainTrigger, IntakeCheck, RetrainRun, RolloutStep, ReviewDecision, ReviewExport)
