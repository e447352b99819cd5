"""Evaluate the gate policy for one model version.

The version is loaded (its signed manifest verified), its lineage scope computed, every piece of
evidence about the scope collected and verified (signature, leaf, inclusion proof against the
signed checkpoint), and each control's requirement applied to the verified evidence about its
part of the scope. A required control without the evidence it needs is ``missing`` and fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cpmap.core.evidence import CONTROLS
from cpmap.gate.evidence import Item, collect
from cpmap.gate.policy import FAIL_ON_FAILED_EVIDENCE, Policy
from cpmap.gate.policy import load as load_policy
from cpmap.gate.requirements import REQUIREMENTS, Reason, generic
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

    @property
    def passed(self) -> bool:
        return not any(c.blocking for c in self.controls)

    def control(self, cp: str) -> ControlResult:
        return next(c for c in self.controls if c.control == cp)

    def failing(self) -> list[ControlResult]:
        return [c for c in self.controls if c.blocking]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "digest": self.digest,
                "passed": self.passed, "controls": [c.to_dict() for c in self.controls]}


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


def evaluate_control(control: str, all_items: Sequence[Item], scope: Scope,
                     policy: Policy) -> ControlResult:
    digests = scope.for_control(control)
    items = [i for i in all_items if i.control == control and i.about(digests)]
    bad = [i for i in items if not i.verified]
    good = [i for i in items if i.verified]
    rule = policy.rule(control)
    reasons = [Reason(f"tampered evidence: {i.problem}") for i in bad]
    reasons += REQUIREMENTS.get(control, generic)(good, scope, rule)
    if control in FAIL_ON_FAILED_EVIDENCE:
        # CP2 judges the training data itself: a raw ancestor's failing PII scan is what the
        # recorded redaction fixed.
        own = [i for i in good if i.about(scope.datasets)] if control == "CP2" else good
        reasons += _failed_evidence(own, scope)
    reasons = list(dict.fromkeys(reasons))
    required = policy.required(control)
    status = _status(required, bool(items), reasons)
    texts = tuple(r.text for r in reasons)
    if status == "not-required":
        texts = ("not required by the policy", *(t for t in texts if not t.startswith("no ")))
    return ControlResult(control, status, texts, tuple(items), required)


def evaluate(ws: Workspace, mv: ModelVersion, policy: Policy | None = None) -> GateResult:
    """Run the gate for a loaded (and therefore verified) model version."""
    policy = policy or load_policy(ws)
    scope = scope_of(ws, mv)
    view = collect(ws, scope.everything)
    results = [evaluate_control(c, view.items, scope, policy) for c in CONTROLS]
    if view.problem:
        results = [ControlResult(r.control, "fail", (f"ledger: {view.problem}", *r.reasons),
                                 r.evidence, r.required) for r in results]
    return GateResult(mv.name, mv.version, mv.digest, tuple(results), scope)


def gate(ws: Workspace, ref: str, policy: Policy | None = None) -> GateResult:
    from cpmap.registry.versions import get

    return evaluate(ws, get(ws, ref), policy)
