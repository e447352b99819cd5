"""Evidence: what a control found about a subject, as a signed in-toto Statement v1.

Every control point calls :func:`record`; the statement is wrapped in a DSSE envelope signed by
the workspace key and appended to the ledger. The predicate always carries the control id,
verdict, metrics and findings so that the gate and the report read every control the same way;
``details`` holds what is specific to one kind of evidence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cpmap._version import __version__
from cpmap.core import dsse
from cpmap.core.findings import Finding, Verdict
from cpmap.core.predicate import ContractError, Predicate, wire
from cpmap.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_PREFIX = "https://cpmap.dev/evidence/"
_CONTROL_ID = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")

__all__ = ["Evidence", "Predicate", "Subject", "Verdict", "canonical_json", "record", "seal"]


@dataclass(frozen=True)
class Subject:
    """An artifact named by its SHA-256 digest (hex)."""

    name: str
    digest: str

    def __post_init__(self) -> None:
        if len(self.digest) != 64 or any(c not in "0123456789abcdef" for c in self.digest):
            raise InputError(f"subject {self.name!r}: digest must be 64 lowercase hex characters")


@dataclass(frozen=True)
class Evidence:
    control: str
    kind: str
    subjects: Sequence[Subject]
    verdict: Verdict
    metrics: Mapping[str, Any] = field(default_factory=dict)
    findings: Sequence[Finding] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _CONTROL_ID.match(self.control):
            raise InputError(f"evidence control {self.control!r} is not a control id (CP1..)")
        if not self.subjects:
            raise InputError(f"{self.control} {self.kind}: evidence needs at least one subject")

    @classmethod
    def of(cls, predicate: Predicate, subjects: Sequence[Subject]) -> Evidence:
        """The evidence for a typed predicate about ``subjects``."""
        w = wire(predicate)
        return cls(predicate.control, predicate.kind, list(subjects), predicate.verdict,
                   w["metrics"], predicate.findings, w["details"])

    @property
    def predicate_type(self) -> str:
        return f"{PREDICATE_PREFIX}{self.kind}/v1"

    def statement(self, when: datetime | None = None) -> dict[str, Any]:
        from cpmap.supplychain.secrets.redact import scrub  # no secret reaches the ledger

        ts = (when or datetime.now(UTC)).isoformat(timespec="seconds")
        return {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": s.name, "digest": {"sha256": s.digest}} for s in self.subjects],
            "predicateType": self.predicate_type,
            "predicate": scrub({
                "control": self.control,
                "verdict": self.verdict.value,
                "metrics": dict(self.metrics),
                "findings": [f.to_dict() for f in self.findings],
                "details": dict(self.details),
                "timestamp": ts,
                "tool": {"name": "cpmap", "version": __version__},
            }),
        }


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no spaces, UTF-8. What we hash and sign."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=_json_default).encode()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def seal(evidence: Evidence, workspace: Workspace) -> dsse.Envelope:
    """Sign the evidence statement with the workspace key (after checking it against its kind's
    typed predicate: evidence the gate cannot read back must never be signed)."""
    check_contract(evidence)
    return dsse.sign(canonical_json(evidence.statement()), workspace.signing_key)


def check_contract(evidence: Evidence) -> None:
    """Raise :class:`ContractError` if ``evidence`` does not fit its kind's declared predicate."""
    from cpmap.controls import predicate_class

    cls = predicate_class(evidence.kind)
    if cls.control and cls.control != evidence.control:
        raise ContractError(f"{evidence.kind} evidence belongs to {cls.control}, "
                            f"not {evidence.control}")
    if cls.kind:
        cls.strict(evidence.verdict, evidence.metrics, evidence.findings, evidence.details)


def record(evidence: Evidence, workspace: Workspace | None = None,
           conn: Connection | None = None) -> Entry:
    """Sign ``evidence`` and append it to the workspace ledger; return the ledger entry.

    With ``conn`` (a connection from ``ws.store.write()``) the entry commits together with the
    caller's own rows; the caller then calls ``Ledger(ws).witness(entry)`` after the commit.
    """
    from cpmap.core.ledger import Ledger
    from cpmap.core.workspace import open_workspace

    ws = workspace if workspace is not None else open_workspace()
    if conn is not None:
        return Ledger(ws).append_in(conn, seal(evidence, ws))
    return Ledger(ws).append(seal(evidence, ws))
