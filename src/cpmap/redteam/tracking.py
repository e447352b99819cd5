"""Findings across campaigns: open, then remediated or accepted.

A finding is open from the campaign that first reproduces it. It becomes **remediated** when a
campaign on a *later version* of the same model (same name, other digest) ran the attack that
found it and no longer reproduces it; a campaign on the same digest that happens not to
reproduce it leaves it open (one lucky run is not a fix). It becomes **accepted** only with a
recorded reason (``cpmap redteam accept``); an accepted finding stays accepted when later
campaigns reproduce it. A remediated finding that comes back is reopened: a regression.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update

from cpmap.core.findings import Finding
from cpmap.errors import InputError
from cpmap.redteam.predicates import RedteamAcceptance
from cpmap.redteam.rules import RULES
from cpmap.redteam.tables import redteam_findings

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

OPEN, REMEDIATED, ACCEPTED = "open", "remediated", "accepted"


@dataclass(frozen=True)
class Tracked:
    id: str
    model: str
    rule_id: str
    title: str
    severity: str
    status: str
    first_digest: str
    last_digest: str
    remediated_digest: str
    first_seen: str
    last_seen: str
    reason: str
    finding: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "finding"} | {
            "finding": self.finding}


@dataclass(frozen=True)
class Transition:
    id: str
    rule_id: str
    before: str  # "" for a new finding
    after: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _tracked(r: Any) -> Tracked:
    try:
        finding = json.loads(r.finding)
    except ValueError:
        finding = {}
    return Tracked(r.id, r.model, r.rule_id, r.title, r.severity, r.status, r.first_digest,
                   r.last_digest, r.remediated_digest, r.first_seen, r.last_seen, r.reason,
                   finding)


def reconcile(conn: Connection, model: str, digest: str, sections: Sequence[str],
              findings: Sequence[Finding], campaign: str) -> list[Transition]:
    """Update tracked findings of ``model`` after a campaign on ``digest``; return changes."""
    now = _now()
    rows = {r.id: r for r in conn.execute(
        select(redteam_findings).where(redteam_findings.c.model == model)).all()}
    changes: list[Transition] = []
    seen: set[str] = set()
    for f in findings:
        fid = str(f.properties["id"])
        seen.add(fid)
        body = json.dumps(f.to_dict(), sort_keys=True, default=str)
        old = rows.get(fid)
        if old is None:
            conn.execute(insert(redteam_findings).values(
                id=fid, model=model, rule_id=f.rule_id, title=str(f.properties["title"]),
                severity=f.severity.value, status=OPEN, first_digest=digest, last_digest=digest,
                remediated_digest="", first_seen=now, last_seen=now, campaign=campaign,
                entry=-1, reason="", finding=body, updated_at=now))
            changes.append(Transition(fid, f.rule_id, "", OPEN))
            continue
        status = OPEN if old.status == REMEDIATED else old.status
        conn.execute(update(redteam_findings).where(redteam_findings.c.id == fid).values(
            status=status, last_digest=digest, last_seen=now, campaign=campaign,
            severity=f.severity.value, finding=body, updated_at=now,
            remediated_digest="" if status == OPEN else old.remediated_digest))
        if status != old.status:
            changes.append(Transition(fid, f.rule_id, old.status, status))
    for fid, old in rows.items():
        rule = RULES.get(old.rule_id)
        if fid in seen or old.status != OPEN or rule is None or rule.attack not in sections:
            continue
        if old.last_digest == digest:
            continue  # same version, not reproduced this time: stays open
        conn.execute(update(redteam_findings).where(redteam_findings.c.id == fid).values(
            status=REMEDIATED, remediated_digest=digest, campaign=campaign, updated_at=now))
        changes.append(Transition(fid, old.rule_id, OPEN, REMEDIATED))
    return changes


def set_entry(conn: Connection, campaign: str, entry: int) -> None:
    """Point the rows a campaign touched at its ledger entry."""
    conn.execute(update(redteam_findings).where(redteam_findings.c.campaign == campaign)
                 .values(entry=entry))


def statuses(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = conn.execute(select(redteam_findings.c.id, redteam_findings.c.status)
                        .where(redteam_findings.c.id.in_(list(ids)))).all()
    return {r.id: r.status for r in rows}


def list_findings(ws: Workspace, model: str | None = None,
                  only_open: bool = False) -> list[Tracked]:
    q = select(redteam_findings).order_by(redteam_findings.c.model, redteam_findings.c.rule_id)
    if model:
        q = q.where(redteam_findings.c.model == model)
    if only_open:
        q = q.where(redteam_findings.c.status == OPEN)
    with ws.store.read() as conn:
        return [_tracked(r) for r in conn.execute(q).all()]


def get(conn: Connection, fid: str) -> Tracked:
    r = conn.execute(select(redteam_findings).where(redteam_findings.c.id == fid)).first()
    if r is None:
        raise InputError(f"finding {fid!r}: not tracked in this workspace",
                         hint="cpmap redteam findings")
    return _tracked(r)


def accept(ws: Workspace, fid: str, reason: str, by: str = "") -> Tracked:
    """Accept a finding's risk with a reason, recorded as signed CP5 evidence."""
    from cpmap.core.evidence import Evidence, Subject, Verdict, record
    from cpmap.core.ledger import Ledger

    if not reason.strip():
        raise InputError("--reason: accepting a finding needs a reason")
    with ws.store.write() as conn:
        row = get(conn, fid)
        if row.status == REMEDIATED:
            raise InputError(f"finding {fid}: already remediated; nothing to accept")
        now = _now()
        conn.execute(update(redteam_findings).where(redteam_findings.c.id == fid).values(
            status=ACCEPTED, reason=reason.strip(), updated_at=now))
        ev = Evidence.of(RedteamAcceptance(
            verdict=Verdict.INFO, finding=fid, rule_id=row.rule_id, title=row.title,
            previous_status=row.status, reason=reason.strip(), accepted_by=by,
            highlights=(f"{fid} ({row.rule_id}) accepted: {reason.strip()}",)),
            [Subject(row.model, row.last_digest)])
        entry = record(ev, ws, conn)
    Ledger(ws).witness(entry)
    with ws.store.read() as conn:
        return get(conn, fid)
