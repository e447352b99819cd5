"""Review items: made from flagged predictions, claimed under a row lock, decided, agreed.

Items come from CP8's flags in the gateway's prediction log (low confidence, OOD, probing
clients; columns a log does not have are taken as absent) and from callers that flag inputs
themselves (CP9 golden-set disagreements, the demo). A reviewer claims the next open item:
``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, and on SQLite an ``UPDATE ... WHERE
claimed_by IS NULL`` whose row count says who won; a claim older than ``CLAIM_S`` lapses.
With ``[review] agreement = 2`` an item is final only when two reviewers decided the same;
until then it goes back to the queue for someone who has not decided it. Every decision is a
signed ``review-decision`` entry committed with its row; agreement and the export read the
decisions through :mod:`cpmap.review.signed_rows`, checked against those entries.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, insert, or_, select, update

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.ledger import Ledger
from cpmap.errors import InputError
from cpmap.retrain.predicates import ReviewDecision
from cpmap.review.signed_rows import item_digest
from cpmap.review.tables import review_decisions, review_items

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from cpmap.core.workspace import Workspace

DECISIONS = ("label", "attack", "noise", "skip")
CLAIM_S = 15 * 60
FLAG_KEYS = ("flags", "low_confidence", "ood", "probing")


@dataclass(frozen=True)
class Item:
    id: int
    model: str
    source: str
    input_kind: str
    input: Any
    shape: str
    prediction: str
    confidence: float | None
    flags: tuple[str, ...]
    status: str
    claimed_by: str | None
    decision: str | None
    label: str | None

    @property
    def digest(self) -> str:
        return item_digest(self.model, self.input, self.prediction)


def _item(r: Any) -> Item:
    return Item(int(r.id), r.model, r.source, r.input_kind, json.loads(r.input), r.shape,
                r.prediction, r.confidence, tuple(json.loads(r.flags)), r.status,
                r.claimed_by, r.decision, r.label)


def add(ws: Workspace, model: str, key: str, *, value: Any, prediction: str,
        confidence: float | None, flags: list[str], source: str = "manual",
        shape: str = "") -> int | None:
    """Queue one flagged input; None if ``key`` was queued before."""
    kind = "image" if shape else ("row" if isinstance(value, dict) else "none")
    with ws.store.write() as conn:
        if conn.execute(select(review_items.c.id).where(review_items.c.key == key)).first():
            return None
        res = conn.execute(insert(review_items).values(
            key=key, model=model, source=source, input_kind=kind, input=json.dumps(value),
            shape=shape, prediction=prediction, confidence=confidence, flags=json.dumps(flags),
            status="open", created_at=datetime.now(UTC).isoformat(timespec="seconds")))
        key_row = res.inserted_primary_key
        return None if key_row is None else int(key_row[0])


def _flags(entry: dict[str, Any]) -> list[str]:
    out: list[str] = []
    raw = entry.get("flags")
    if isinstance(raw, list):
        out += [str(f) for f in raw]
    out += [k.replace("_", " ") for k in FLAG_KEYS[1:] if entry.get(k)]
    return list(dict.fromkeys(out))


def from_predlog(ws: Workspace, model: str, shape: str = "") -> int:
    """Queue the flagged rows of ``model``'s prediction log (verified batches only); the number
    queued. A row is flagged when CP8 flagged its request (OOD, probing, an explicit flag) or
    its confidence is under ``[review] confidence_floor`` (default 0.5); its input is shown
    when the gateway sampled it (``[monitoring] sample_inputs``: CP2-redacted rows)."""
    from cpmap.drift.logwindow import entries

    name = model.split("@")[0].split(":")[0]
    floor = float(ws.setting("review", "confidence_floor", 0.5))
    added = 0
    for entry in entries(ws, name):
        for key, value, prediction, conf, flags in flagged_rows(entry, floor):
            if add(ws, name, key, value=value, prediction=prediction, confidence=conf,
                   flags=flags, source="predlog", shape=shape if isinstance(value, list)
                   else ""):
                added += 1
    return added


def flagged_rows(entry: dict[str, Any], floor: float
                 ) -> list[tuple[str, Any, str, float | None, list[str]]]:
    """(key, input or None, prediction, confidence, flags) of each flagged row of one logged
    request: the gateway logs per-row ``predictions`` and ``confidence`` lists, the request's
    ``ood`` flag and, when sampled, the rows (``features`` for arrays, ``inputs`` for named
    columns)."""
    from cpmap.drift.sampling import rows_of

    if int(entry.get("status", 200)) != 200:
        return []
    base = _flags(entry)
    preds, confs = entry.get("predictions"), entry.get("confidence")
    n = len(preds) if isinstance(preds, list) else 1
    confs = confs if isinstance(confs, list) else [confs] * n
    preds = preds if isinstance(preds, list) else [entry.get("prediction", "")] * n
    sampled = _sampled(entry, rows_of(entry), n)
    rid = str(entry.get("id", ""))
    out = []
    for i in range(n):
        c = confs[i] if i < len(confs) else None
        conf = float(c) if isinstance(c, int | float) else None
        flags = base + (["low confidence"] if conf is not None and conf < floor
                        and "low confidence" not in base else [])
        if flags:
            key = f"predlog:{rid}" if n == 1 else f"predlog:{rid}:{i}"
            out.append((key, sampled[i], str(preds[i]), conf, flags))
    return out


def _sampled(entry: dict[str, Any], rows: list[dict[str, Any]], n: int) -> list[Any]:
    """Each row's input as the review page shows it: a list of numbers (arrays, images), a dict
    of named columns (tables), or None (not sampled)."""
    legacy = entry.get("sample")
    if isinstance(legacy, list | dict) and n == 1:
        return [legacy]
    if not rows:
        return [None] * n
    if "features" in entry:
        values: list[Any] = [[row[k] for k in sorted(row, key=lambda k: int(k[1:]))]
                             for row in rows]
    else:
        values = list(rows)
    return (values + [None] * n)[:n]


def get(ws: Workspace, item_id: int) -> Item:
    with ws.store.read() as conn:
        row = conn.execute(select(review_items).where(review_items.c.id == item_id)).first()
    if row is None:
        raise InputError(f"review item {item_id}: no such item")
    return _item(row)


def _open_for(user: str, stale: float) -> Any:
    mine = select(review_decisions.c.item).where(review_decisions.c.reviewer == user)
    return and_(review_items.c.status == "open", review_items.c.id.not_in(mine),
                or_(review_items.c.claimed_by.is_(None), review_items.c.claimed_by == user,
                    review_items.c.claimed_at < stale))


def claim(ws: Workspace, user: str) -> Item | None:
    """Claim the next open item ``user`` has not decided (None when the queue is empty)."""
    now = time.time()
    with ws.store.write() as conn:
        if not ws.store.is_sqlite:
            row = conn.execute(select(review_items.c.id).where(_open_for(user, now - CLAIM_S))
                               .order_by(review_items.c.id).limit(1)
                               .with_for_update(skip_locked=True)).first()
            ids = [] if row is None else [int(row.id)]
        else:
            ids = [int(r.id) for r in conn.execute(select(review_items.c.id).where(
                _open_for(user, now - CLAIM_S)).order_by(review_items.c.id).limit(20))]
        for item_id in ids:
            won = conn.execute(update(review_items).where(
                review_items.c.id == item_id, _open_for(user, now - CLAIM_S)).values(
                claimed_by=user, claimed_at=now)).rowcount
            if won == 1:
                break
        else:
            return None
    return get(ws, item_id)


def decide(ws: Workspace, user: str, item_id: int, decision: str,
           label: str | None = None) -> Item:
    """Record ``user``'s decision on an item they hold; final when enough reviewers agree."""
    if decision not in DECISIONS:
        raise InputError(f"decision {decision!r}: one of {', '.join(DECISIONS)}")
    if decision in ("label", "attack") and not label:
        raise InputError(f"decision {decision}: needs the true label")
    need = max(1, int(ws.setting("review", "agreement", 1)))
    with ws.store.write() as conn:
        row = conn.execute(select(review_items).where(review_items.c.id == item_id)).first()
        if row is None or row.status != "open" or row.claimed_by != user:
            raise InputError(f"review item {item_id}: not claimed by {user} (claim it first)")
        item = _item(row)
        agreeing = sum(1 for d in _signed_decisions(ws, conn, item_id)
                       if (d["decision"], d["label"]) == (decision, label))
        final = decision != "skip" and agreeing + 1 >= need
        entry = _record(ws, conn, item, user, decision, label, final)
        conn.execute(insert(review_decisions).values(
            item=item_id, reviewer=user, decision=decision, label=label,
            created_at=entry.created_at, entry=entry.index))
        values: dict[str, Any] = {"claimed_by": None, "claimed_at": None}
        if final:
            values |= {"status": "final", "decision": decision, "label": label}
        conn.execute(update(review_items).where(review_items.c.id == item_id).values(**values))
    Ledger(ws).witness(entry)
    return get(ws, item_id)


def _signed_decisions(ws: Workspace, conn: Connection, item_id: int) -> list[dict[str, Any]]:
    """The item's decisions so far, verified against their signed entries (agreement is
    counted from what reviewers signed, never from rows a store writer added)."""
    from cpmap.core.verified import SignedLog
    from cpmap.review.signed_rows import DECISIONS, ITEMS

    log = SignedLog.load(ws, conn)
    ITEMS.read(ws, conn, where=lambda r: r["id"] == item_id, log=log)
    return DECISIONS.read(ws, conn, where=lambda r: r["item"] == item_id, log=log)


def _record(ws: Workspace, conn: Connection, item: Item, user: str, decision: str,
            label: str | None, final: bool) -> Any:
    pred = ReviewDecision(verdict=Verdict.INFO, item=item.id, reviewer=user, decision=decision,
                          label=label, final=final,
                          highlights=(f"item {item.id} ({item.model}, predicted "
                                      f"{item.prediction}): {decision}"
                                      + (f" {label}" if label else ""),))
    return record(Evidence.of(pred, [Subject(f"review-item:{item.id}", item.digest)]), ws, conn)


def counts(ws: Workspace, model: str | None = None) -> dict[str, int]:
    q = select(review_items.c.status, func.count()).group_by(review_items.c.status)
    if model is not None:
        q = q.where(review_items.c.model == model)
    with ws.store.read() as conn:
        found = {str(s): int(n) for s, n in conn.execute(q)}
    return {"open": found.get("open", 0), "final": found.get("final", 0)}


def decided_count(ws: Workspace, model: str) -> int:
    return counts(ws, model)["final"]


def final_items(ws: Workspace, model: str) -> list[Item]:
    """``model``'s final items, each checked against its final signed decision (the export
    makes training data of their labels)."""
    from types import SimpleNamespace

    from cpmap.review.signed_rows import ITEMS

    rows = [r for r in ITEMS.read(ws) if r["model"] == model and r["status"] == "final"]
    return [_item(SimpleNamespace(**r)) for r in sorted(rows, key=lambda r: int(r["id"]))]
