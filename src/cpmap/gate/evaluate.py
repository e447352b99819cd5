"""Evaluate the gate policy for one model version.

The version is loaded (its signed manifest verified), its lineage scope computed, every piece of
evidence about the scope collected and verified (signature, leaf, inclusion proof against the
signed checkpoint), and each control's requirement applied to the verified evidence about its
part of the scope. A required control without the evidence it needs is ``missing`` and fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cpmap.controls import all_controls, control
from cpmap.core.control import FailedEvidence, load
from cpmap.gate.evidence import collect
from cpmap.gate.kit import Item, Reason, Requirement, generic
from cpmap.gate.policy import Policy
from cpmap.gate.policy import load as load_policy
from cpmap.gate.scope import Scope, scope_of

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.registry.manifest import ModelVersion


@dataclass(frozen=True)
class ControlResult:
    control: str
    status: str  # pass | fail | missing | not-required
    reasons: tuple[str, ...]
    evidence: tuple[Item, ...]
    required: bool

    @property
    def blocking(self) -> bool:
        return self.status == "fail" or (self.status == "missing" and self.required)

    def to_dict(self) -> dict[str, Any]:
        return {"control": self.control, "status": self.status, "reasons": list(self.reasons),
                "evidence": [i.ref() for i in self.evidence]}


@dataclass(frozen=True)
class GateResult:
    model: str
    version: int
    digest: str
    controls: tuple[ControlResult, ...]
    scope: Scope
    stage: str | None = None  # the promotion target the gate was run for

    @property
    def passed(self) -> bool:
        return not any(c.blocking for c in self.controls)

    def control(self, cp: str) -> ControlResult:
        return next(c for c in self.controls if c.control == cp)

    def failing(self) -> list[ControlResult]:
        return [c for c in self.controls if c.blocking]

    def to_dict(self) -> dict[str, Any]:
        out = {"model": self.model, "version": self.version, "digest": self.digest,
               "passed": self.passed, "controls": [c.to_dict() for c in self.controls]}
        return out if self.stage is None else {**out, "stage": self.stage}


def _failed_evidence(items: Sequence[Item], scope: Scope) -> list[Reason]:
    """The latest entry of each kind about each subject, when its own verdict is ``fail``."""
    latest: dict[tuple[str, str], Item] = {}
    for i in items:
        for digest in i.subjects:
            latest[(i.kind, digest)] = i
    bad = {i.index: i for i in latest.values() if i.verdict == "fail"}
    return [Reason(f"{i.kind} failed (evidence #{i.index})") for _, i in sorted(bad.items())]


def _status(required: bool, has_evidence: bool, reasons: Sequence[Reason]) -> str:
    if any(not r.missing for r in reasons):
        return "fail"
    if not has_evidence and not required:
        return "not-required"
    if any(r.missing for r in reasons):
        return "missing" if required else "not-required"
    return "pass"


def _requirement(target: str | Callable[..., Any] | None) -> Requirement:
    if target is None:
        return generic
    found: Requirement = load(target) if isinstance(target, str) else target
    return found


def evaluate_control(cp: str, all_items: Sequence[Item], scope: Scope, policy: Policy,
                     stage: str | None = None) -> ControlResult:
    gate = control(cp).gate
    digests = scope.about(gate.about)
    items = [i for i in all_items if i.control == cp and i.about(digests)]
    bad = [i for i in items if not i.verified]
    good = [i for i in items if i.verified]
    rule = policy.rule(cp)
    reasons = [Reason(f"tampered evidence: {i.problem}") for i in bad]
    reasons += _requirement(gate.requirement)(good, scope, rule)
    if gate.failed_evidence is FailedEvidence.TRAINING_DATA:
        # a raw ancestor's failing check (a PII scan) is what a recorded fix (redaction) fixed
        reasons += _failed_evidence([i for i in good if i.about(scope.datasets)], scope)
    elif gate.failed_evidence is FailedEvidence.ANY:
        reasons += _failed_evidence(good, scope)
    reasons = list(dict.fromkeys(reasons))
    required = policy.required(cp, stage)
    status = _status(required, bool(items), reasons)
    texts = tuple(r.text for r in reasons)
    if status == "not-required":
        texts = ("not required by the policy", *(t for t in texts if not t.startswith("no ")))
    return ControlResult(cp, status, texts, tuple(items), required)


def evaluate(ws: Workspace, mv: ModelVersion, policy: Policy | None = None,
             stage: str | None = None) -> GateResult:
    """Run the gate for a loaded (and therefore verified) model version, for a promotion to
    ``stage`` when one is given (a rule's ``required_for`` stages then count as required)."""
    policy = policy or load_policy(ws)
    scope = scope_of(ws, mv)
    view = collect(ws, scope.everything)
    results = [evaluate_control(c.id, view.items, scope, policy, stage) for c in all_controls()]
    if view.problem:
        results = [ControlResult(r.control, "fail", (f"ledger: {view.problem}", *r.reasons),
                                 r.evidence, r.required) for r in results]
    return GateResult(mv.name, mv.version, mv.digest, tuple(results), scope, stage)


def gate(ws: Workspace, ref: str, policy: Policy | None = None,
         stage: str | None = None) -> GateResult:
    from cpmap.registry.versions import get

    return evaluate(ws, get(ws, ref), policy, stage)
