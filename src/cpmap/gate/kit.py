"""What a control's gate requirement is written with: the evidence item, reasons, selectors.

A requirement is a function ``(items, scope, rule) -> list[Reason]`` declared by its control
(``Gate.requirement`` in ``<package>/control.py``). ``items`` is the verified evidence of that
control about its part of the version's lineage, oldest first, each with its typed predicate;
``rule`` is the control's typed settings after cpmap.toml and ``CPMAP_GATE_*`` overrides. A
:class:`Reason` marked ``missing`` means the evidence needed to decide is absent: that fails a
required control as "no evidence" and never passes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cpmap.core.findings import Finding, SeverityFloor
from cpmap.core.predicate import Predicate

if TYPE_CHECKING:
    from cpmap.gate.scope import Scope

P = TypeVar("P", bound=Predicate)


@dataclass(frozen=True)
class Item:
    """One verified (or not: ``problem``) ledger entry as the gate and the report see it."""

    index: int
    control: str
    kind: str
    created_at: str
    subjects: Mapping[str, str]  # digest -> name
    predicate: Predicate
    problem: str | None = None

    @property
    def verified(self) -> bool:
        return self.problem is None

    @property
    def verdict(self) -> str:
        return self.predicate.verdict.value

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.predicate.findings

    def about(self, digests: Iterable[str]) -> bool:
        return not self.subjects.keys().isdisjoint(digests)

    def ref(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "verdict": self.verdict,
                "created_at": self.created_at, "verified": self.verified,
                "subjects": [f"{n} sha256:{d}" for d, n in self.subjects.items()][:8]}


@dataclass(frozen=True)
class Reason:
    text: str
    missing: bool = False


class Requirement(Protocol):
    def __call__(self, items: Sequence[Item], scope: Scope, rule: Any) -> list[Reason]: ...


def no_evidence(text: str) -> Reason:
    return Reason(f"no evidence: {text}", True)


def of_kind(items: Iterable[Item], kind: type[P]) -> list[tuple[Item, P]]:
    """The items whose predicate is ``kind``, with the typed predicate."""
    return [(i, i.predicate) for i in items if isinstance(i.predicate, kind)]


def latest(items: Iterable[Item], kind: type[P], pred: Callable[[Item, P], bool] | None = None
           ) -> tuple[Item, P] | None:
    """The latest item of ``kind`` (that satisfies ``pred``)."""
    found = [(i, p) for i, p in of_kind(items, kind) if pred is None or pred(i, p)]
    return found[-1] if found else None


def latest_about(items: Iterable[Item], digest: str, kind: type[P]) -> tuple[Item, P] | None:
    """The latest item of ``kind`` whose subjects include ``digest``."""
    return latest(items, kind, lambda i, _: digest in i.subjects)


def at_or_above(findings: Iterable[Finding], floor: SeverityFloor) -> list[Finding]:
    return [f for f in findings if floor.admits(f.severity)]


def generic(items: Sequence[Item], scope: Scope, rule: Any) -> list[Reason]:
    """The requirement of a control that declares none: some verified evidence exists."""
    return [] if items else [no_evidence("no evidence about this model")]
