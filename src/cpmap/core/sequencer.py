"""Batch appends to the ledger: many entries, one transaction, one signed checkpoint.

Trillian and Rekor do not sign a tree head per leaf: a sequencer takes the queued leaves, gives
them consecutive indexes and signs one tree head for the batch. :func:`append_batch` is that
step on cpmap's store. Each envelope is serialized, hashed and indexed first, outside the
lock; then, inside one write transaction of :meth:`Store.write` (the PostgreSQL advisory lock or
SQLite's ``BEGIN IMMEDIATE``, so writers in several processes are still totally ordered) it
loads the persisted frontier once, adds every leaf, writes all rows in one stream per table
(PostgreSQL ``COPY``, SQLite multi-row ``INSERT``) and signs a single checkpoint at the new
size. A process killed at any point committed the whole batch or none of it.

Nothing that verification checks is weakened: every envelope is signed, every leaf hash is
stored, and the signed checkpoint at the end of each batch covers the whole tree, so
``cpmap ledger verify`` recomputes the root over every entry against every checkpoint that
exists. What changes is granularity: a mismatch is located to the batch whose checkpoint first
disagrees, while an edited envelope or leaf hash is still named by its own index.

:class:`Sequencer` is group commit for many threads of one process: each caller hands over one
envelope and blocks until it is durable; whichever caller finds no commit running commits
everything queued so far as one batch. Writers in other processes do the same through their own
sequencers, serialized by the store's write lock.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, insert, select

from cpmap.core.checkpoint import Checkpoint
from cpmap.core.ledger import Entry, Ledger, _load_frontier, _save_frontier, frontier_of
from cpmap.core.merkle import Frontier, leaf_hash
from cpmap.core.store import ledger_checkpoints, ledger_entries, ledger_state, ledger_subjects
from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core import dsse

MAX_BATCH = 5000  # rows per batch: bounds the transaction and the lock hold time
_CHUNK = 500  # rows per INSERT statement (8 parameters a row, under SQLite's 32,766)


@dataclass(frozen=True)
class Prepared:
    """What an envelope contributes to the log that does not depend on its index: computed
    before the write lock is taken, so that writers in other processes only wait for the
    part that must be serialized (frontier, checkpoint, rows)."""

    envelope: dsse.Envelope
    data: bytes
    leaf: bytes
    control: str
    kind: str
    verdict: str
    subjects: tuple[tuple[str, str], ...]  # (name, sha256) in statement order


def prepare(envelopes: Sequence[dsse.Envelope]) -> list[Prepared]:
    """Serialize, hash and index each envelope (no store access)."""
    if len(envelopes) > MAX_BATCH:
        raise InputError(f"ledger batch of {len(envelopes)} entries: at most {MAX_BATCH} "
                         "per batch (split it)")
    out = []
    for envelope in envelopes:
        data = envelope.to_json()
        statement = envelope.statement()
        predicate = statement.get("predicate") or {}
        out.append(Prepared(
            envelope, data, leaf_hash(data), str(predicate.get("control", ""))[:8],
            str(statement.get("predicateType", ""))[:200],
            str(predicate.get("verdict", ""))[:16],
            tuple((str(s.get("name", "")), str(s.get("digest", {}).get("sha256", "")))
                  for s in statement.get("subject", []))))
    return out


def append_batch(ledger: Ledger, envelopes: Sequence[dsse.Envelope]) -> list[Entry]:
    """Append ``envelopes`` in order as one committed batch; return their entries."""
    if not envelopes:
        return []
    prepared = prepare(envelopes)
    with ledger.store.write() as conn:
        entries = append_prepared(ledger, conn, prepared)
    ledger.witness(entries[-1])
    return entries


def append_batch_in(ledger: Ledger, conn: Connection,
                    envelopes: Sequence[dsse.Envelope]) -> list[Entry]:
    """Append inside the caller's write transaction (from ``store.write()``).

    The caller commits its own rows with the batch and calls ``ledger.witness(entries[-1])``
    after the commit, as with :meth:`Ledger.append_in`.
    """
    return append_prepared(ledger, conn, prepare(envelopes)) if envelopes else []


def append_prepared(ledger: Ledger, conn: Connection,
                    prepared: Sequence[Prepared]) -> list[Entry]:
    """The serialized part of a batch append, inside the caller's write transaction: load the
    frontier once, add every leaf, write all rows (PostgreSQL ``COPY``, else multi-row
    ``INSERT``), sign one checkpoint at the new size and save the frontier."""
    if not prepared:
        return []
    frontier, latest = _load_state(conn)
    if frontier.size:
        ledger.refuse_foreign_note(latest)  # the same check as a single append
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    start = frontier.size
    for p in prepared:
        frontier.append(p.leaf)
    note = Checkpoint(ledger.origin, frontier.size, frontier.root()).sign(
        ledger.ws.signing_key, ledger.origin)
    _write_rows(conn, ledger_entries, _ENTRY_COLS, [
        (start + i, p.leaf, p.data, p.control, p.kind, p.verdict, now)
        for i, p in enumerate(prepared)])
    _write_rows(conn, ledger_subjects, _SUBJECT_COLS, [
        (start + i, pos, name, digest)
        for i, p in enumerate(prepared) for pos, (name, digest) in enumerate(p.subjects)])
    _save_checkpoint(conn, frontier, note)
    return [Entry(start + i, p.leaf, p.envelope, now, note) for i, p in enumerate(prepared)]


def _load_state(conn: Connection) -> tuple[Frontier, str | None]:
    """The persisted frontier and the latest checkpoint note, in one round trip (the lock is
    held: every statement here is time other writers wait)."""
    latest = (select(ledger_checkpoints.c.note).order_by(ledger_checkpoints.c.size.desc())
              .limit(1).scalar_subquery())
    row = conn.execute(select(ledger_state.c.size, ledger_state.c.frontier, latest)
                       .where(ledger_state.c.id == 1)).first()
    if row is None:
        return _load_frontier(conn), None  # a new store: creates the state row
    return frontier_of(int(row[0]), bytes(row[1])), None if row[2] is None else str(row[2])


def _save_checkpoint(conn: Connection, frontier: Frontier, note: str) -> None:
    """The batch's signed checkpoint and the new frontier: one statement on PostgreSQL."""
    if conn.dialect.name != "postgresql":
        conn.execute(insert(ledger_checkpoints).values(size=frontier.size, note=note))
        _save_frontier(conn, frontier)
        return
    quote = conn.dialect.identifier_preparer.quote
    conn.exec_driver_sql(
        f"WITH cp AS (INSERT INTO {quote(ledger_checkpoints.name)} (size, note) "  # noqa: S608 - schema names, values bound
        f"VALUES (%s, %s)) UPDATE {quote(ledger_state.name)} SET size = %s, frontier = %s "
        "WHERE id = 1", (frontier.size, note, frontier.size, b"".join(frontier.hashes)))


_ENTRY_COLS = ("idx", "leaf_hash", "envelope", "control", "kind", "verdict", "created_at")
_SUBJECT_COLS = ("idx", "position", "name", "digest")


def _write_rows(conn: Connection, table: Table, cols: tuple[str, ...],
                rows: list[tuple[Any, ...]]) -> None:
    """All ``rows`` of a batch into ``table``: PostgreSQL's ``COPY ... FROM STDIN`` (one
    stream, no statement text to parse), else multi-row ``INSERT``."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    names = f"{quote(table.name)} ({', '.join(quote(c) for c in cols)})"
    if conn.dialect.name == "postgresql":
        _copy(conn, f"COPY {names} FROM STDIN", rows)
        return
    _insert(conn, names, len(cols), rows)


def _copy(conn: Connection, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """``COPY ... FROM STDIN`` on the transaction's own psycopg connection. The driver's
    errors (the server gone mid-batch) become SQLAlchemy's, as for any other statement, so
    :meth:`Store.write` reports them as one ``StoreError`` line and the batch rolls back."""
    from sqlalchemy.exc import DBAPIError

    driver = conn.connection.driver_connection
    assert driver is not None  # noqa: S101 - a checked-out connection has one
    base = conn.dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except base as e:
        raise DBAPIError.instance(statement, None, e, base, dialect=conn.dialect) from e


def _insert(conn: Connection, names: str, width: int, rows: list[tuple[Any, ...]]) -> None:
    """Multi-row ``INSERT ... VALUES`` with bound parameters: one round trip per chunk
    instead of one per row. The statement text is built here (SQLAlchemy's compiler takes
    ~1 ms per row for a multi-row ``values()``); every value is still a bound parameter of
    the simple types of the ledger tables (integers, text, bytes)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    one = "(" + ", ".join([mark] * width) + ")"
    head = f"INSERT INTO {names} VALUES "  # noqa: S608 - names are the schema's, values bound
    for lo in range(0, len(rows), _CHUNK):
        chunk = rows[lo : lo + _CHUNK]
        conn.exec_driver_sql(head + ", ".join([one] * len(chunk)),
                             tuple(v for r in chunk for v in r))


class _Waiter:
    __slots__ = ("done", "entry", "envelope", "error")

    def __init__(self, envelope: dsse.Envelope) -> None:
        self.envelope = envelope
        self.done = threading.Event()
        self.entry: Entry | None = None
        self.error: BaseException | None = None


class Sequencer:
    """Group commit of single appends from many threads (one instance per ledger/process)."""

    def __init__(self, ledger: Ledger, max_batch: int = 1000) -> None:
        self.ledger = ledger
        self.max_batch = max(1, min(max_batch, MAX_BATCH))
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._leader = False
        self.batches = 0  # committed batches (for tests and metrics)

    def append(self, envelope: dsse.Envelope) -> Entry:
        """Append one envelope; return once the batch holding it is durably committed."""
        me = _Waiter(envelope)
        with self._lock:
            self._queue.append(me)
            lead = not self._leader
            if lead:
                self._leader = True
        if lead:
            self._lead()
        me.done.wait()
        if me.error is not None:
            raise me.error
        assert me.entry is not None  # noqa: S101 - set together with done
        return me.entry

    def _lead(self) -> None:
        """Commit queued batches until the queue is empty, then hand leadership back (in the
        same critical section that finds the queue empty, so no caller is left waiting)."""
        while True:
            with self._lock:
                taken, self._queue = (self._queue[:self.max_batch],
                                      self._queue[self.max_batch:])
                if not taken:
                    self._leader = False
                    return
            try:
                entries = append_batch(self.ledger, [w.envelope for w in taken])
            except BaseException as e:  # every waiter of the batch gets the error
                _fail(taken, e)
                if not isinstance(e, Exception):  # interrupted: nobody leads any more
                    with self._lock:
                        rest, self._queue, self._leader = self._queue, [], False
                    _fail(rest, e)
                    raise
                continue
            self.batches += 1
            for w, entry in zip(taken, entries, strict=True):
                w.entry = entry
                w.done.set()


def _fail(waiters: list[_Waiter], error: BaseException) -> None:
    for w in waiters:
        w.error = error
        w.done.set()
