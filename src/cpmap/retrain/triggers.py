"""Triggers: CP9 alerts and the schedule turned into retraining runs, once each, one at a time.

A trigger has a key (the failing CP9 entry ``drift:#12``, the schedule slot
``schedule:2026-11-29T03:00``, a manual request ``manual:<uuid>``). Accepting it inserts the key
and its signed ``retrain-trigger`` entry in one store transaction, so a second worker (or a
rerun of ``cpmap watch --once``) finds the key and does nothing: one run per trigger. A run
holds the model's run lock for its whole length, so two runs of one model never overlap: a
session-level PostgreSQL advisory lock when the store is PostgreSQL (shared by every worker on
every host), an exclusive ``flock`` on a file next to the SQLite store otherwise.
"""

from __future__ import annotations

import fcntl
import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.pool import NullPool

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.ledger import Ledger
from cpmap.errors import Error
from cpmap.retrain.cron import last_slot, parse
from cpmap.retrain.predicates import RetrainTrigger
from cpmap.retrain.tables import retrain_triggers

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

ALERT_KINDS = ("drift", "performance", "golden-run", "poisoning")  # CP9's evidence kinds


class RunInProgress(Error):
    """Another run of the same model holds its run lock."""

    exit_code = 1


@dataclass(frozen=True)
class Trigger:
    model: str
    trigger: str  # "manual" | "schedule" | one of ALERT_KINDS
    key: str
    reason: str
    source_entry: int | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"cpmap-trigger:{self.key}".encode()).hexdigest()


def manual(model: str, reason: str = "") -> Trigger:
    return Trigger(model, "manual", f"manual:{uuid.uuid4().hex}", reason or "requested")


def _model_digests(ws: Workspace, name: str) -> set[str]:
    """The production version's digest (alerts about versions it replaced are stale); every
    version's while nothing is in production."""
    from cpmap.errors import Error
    from cpmap.registry.versions import get, list_versions

    try:
        return {get(ws, f"{name}@production").digest}
    except Error:
        return {v.digest for v in list_versions(ws, name)}


def alerts(ws: Workspace, name: str) -> list[Trigger]:
    """Failing CP9 evidence (drift, performance, golden run, poisoning) about ``name``'s
    production version, oldest first. Read from the signed statements, whatever CP9's
    field layout."""
    digests = _model_digests(ws, name)
    out = []
    for e in Ledger(ws).entries(control="CP9"):
        kind = str(e.statement.get("predicateType", "")).rstrip("/").split("/")[-2]
        subjects = {str(s.get("digest", {}).get("sha256")) for s in e.statement["subject"]}
        if kind in ALERT_KINDS and e.predicate.get("verdict") == "fail" and subjects & digests:
            first = next((str(f.get("message")) for f in e.predicate.get("findings") or []
                          if isinstance(f, dict)), "")
            out.append(Trigger(name, kind, f"{kind}:#{e.index}",
                               first or f"CP9 {kind} evidence #{e.index} failed", e.index))
    return out


def scheduled(ws: Workspace, name: str, now: datetime | None = None) -> Trigger | None:
    """The latest slot of ``[retraining] schedule`` (None without a schedule)."""
    spec = ws.setting("retraining", "schedule", "")
    if not spec:
        return None
    slot = last_slot(parse(str(spec)), now or datetime.now(UTC))
    if slot is None:
        return None
    at = slot.strftime("%Y-%m-%dT%H:%M")
    return Trigger(name, "schedule", f"schedule:{name}:{at}", f"schedule {spec!r} slot {at}")


def pending(ws: Workspace, name: str, now: datetime | None = None) -> list[Trigger]:
    """Every trigger for ``name`` not accepted yet."""
    found = alerts(ws, name)
    slot = scheduled(ws, name, now)
    if slot is not None:
        found.append(slot)
    with ws.store.read() as conn:
        seen = {r[0] for r in conn.execute(select(retrain_triggers.c.key).where(
            retrain_triggers.c.model == name))}
    return [t for t in found if t.key not in seen]


def accept(ws: Workspace, t: Trigger, run_id: str) -> bool:
    """Record ``t`` with its run; False (nothing written) if its key was accepted before."""
    pred = RetrainTrigger(verdict=Verdict.INFO, model=t.model, trigger=t.trigger, key=t.key,
                          reason=t.reason, source_entry=t.source_entry,
                          highlights=(f"{t.trigger} trigger for {t.model}: {t.reason}",))
    with ws.store.write() as conn:
        if conn.execute(select(retrain_triggers.c.key).where(
                retrain_triggers.c.key == t.key)).first() is not None:
            return False
        entry = record(Evidence.of(pred, [Subject(f"trigger:{t.key}", t.digest)]), ws, conn)
        conn.execute(insert(retrain_triggers).values(
            key=t.key, model=t.model, trigger=t.trigger, reason=t.reason,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"), run_id=run_id,
            entry=entry.index))
    Ledger(ws).witness(entry)
    return True


def set_run(ws: Workspace, key: str, run_id: str) -> None:
    with ws.store.write() as conn:
        conn.execute(update(retrain_triggers).where(retrain_triggers.c.key == key)
                     .values(run_id=run_id))


def _lock_key(name: str) -> int:
    raw = int.from_bytes(hashlib.sha256(f"cpmap-retrain:{name}".encode()).digest()[:8], "big")
    return raw - (1 << 63)  # a signed 64-bit key, as pg_advisory_lock takes


@contextmanager
def run_lock(ws: Workspace, name: str) -> Iterator[None]:
    """Hold ``name``'s run lock for the block, or raise :class:`RunInProgress` at once."""
    if ws.store.is_sqlite:
        with _file_lock(ws, name):
            yield
        return
    engine = create_engine(ws.store.url, poolclass=NullPool)
    # advisory locks are per database: a workspace in its own schema has its own locks
    key = _lock_key(name if ws.store.schema is None else f"{ws.store.schema}/{name}")
    try:
        with engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
            if not got:
                raise RunInProgress(f"{name}: another retraining run holds its lock")
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        engine.dispose()


@contextmanager
def _file_lock(ws: Workspace, name: str) -> Iterator[None]:
    locks = ws.dir / "locks"
    locks.mkdir(mode=0o700, exist_ok=True)
    path = locks / f"retrain-{hashlib.sha256(name.encode()).hexdigest()[:16]}.lock"
    with path.open("a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgress(f"{name}: another retraining run holds {path}") from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
