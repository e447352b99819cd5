"""Batch appends to the ledger: many entries, one transaction, one signed checkpoint.

Trillian and Rekor do not sign a tree head per leaf: a sequencer takes the queued leaves, gives
them consecutive indexes and signs one tree head for the batch. :func:`append_batch` is that
step on cpmap's store. Inside one write transaction of :meth:`Store.write` (the PostgreSQL
advisory lock or SQLite's ``BEGIN IMMEDIATE``, so writers in several processes are still totally
ordered) it loads the persisted frontier once, hashes every envelope into it, inserts all rows
with one ``executemany`` per table and signs a single checkpoint at the new size. A process
killed at any point committed the whole batch or none of it.

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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, insert

from cpmap.core.checkpoint import Checkpoint
from cpmap.core.ledger import Entry, Ledger, _load_frontier, _save_frontier
from cpmap.core.merkle import leaf_hash
from cpmap.core.store import ledger_checkpoints, ledger_entries, ledger_subjects
from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core import dsse

MAX_BATCH = 5000  # rows per batch: bounds the transaction and the lock hold time
_CHUNK = 500  # rows per INSERT statement (8 parameters a row, under SQLite's 32,766)


def append_batch(ledger: Ledger, envelopes: Sequence[dsse.Envelope]) -> list[Entry]:
    """Append ``envelopes`` in order as one committed batch; return their entries."""
    if not envelopes:
        return []
    with ledger.store.write() as conn:
        entries = append_batch_in(ledger, conn, envelopes)
    ledger.witness(entries[-1])
    return entries


def append_batch_in(ledger: Ledger, conn: Connection,
                    envelopes: Sequence[dsse.Envelope]) -> list[Entry]:
    """Append inside the caller's write transaction (from ``store.write()``).

    The caller commits its own rows with the batch and calls ``ledger.witness(entries[-1])``
    after the commit, as with :meth:`Ledger.append_in`.
    """
    if not envelopes:
        return []
    if len(envelopes) > MAX_BATCH:
        raise InputError(f"ledger batch of {len(envelopes)} entries: at most {MAX_BATCH} "
                         "per batch (split it)")
    frontier = _load_frontier(conn)
    if frontier.size:
        ledger._refuse_foreign(conn)  # noqa: SLF001 - the same check as a single append
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    start = frontier.size
    rows: list[dict[str, Any]] = []
    subjects: list[dict[str, Any]] = []
    leaves: list[bytes] = []
    for offset, envelope in enumerate(envelopes):
        data = envelope.to_json()
        leaf = leaf_hash(data)
        statement = envelope.statement()
        predicate = statement.get("predicate") or {}
        index = start + offset
        frontier.append(leaf)
        leaves.append(leaf)
        rows.append({"idx": index, "leaf_hash": leaf, "envelope": data,
                     "control": str(predicate.get("control", ""))[:8],
                     "kind": str(statement.get("predicateType", ""))[:200],
                     "verdict": str(predicate.get("verdict", ""))[:16], "created_at": now})
        subjects += [{"idx": index, "position": i, "name": str(s.get("name", "")),
                      "digest": str(s.get("digest", {}).get("sha256", ""))}
                     for i, s in enumerate(statement.get("subject", []))]
    note = Checkpoint(ledger.origin, frontier.size, frontier.root()).sign(
        ledger.ws.signing_key, ledger.origin)
    _insert(conn, ledger_entries, rows)
    _insert(conn, ledger_subjects, subjects)
    conn.execute(insert(ledger_checkpoints).values(size=frontier.size, note=note))
    _save_frontier(conn, frontier)
    return [Entry(start + i, leaves[i], env, now, note) for i, env in enumerate(envelopes)]


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Multi-row ``INSERT ... VALUES`` with bound parameters: one round trip per chunk
    instead of one per row. The statement text is built here (SQLAlchemy's compiler takes
    ~1 ms per row for a multi-row ``values()``); every value is still a bound parameter of
    the simple types of the ledger tables (integers, text, bytes)."""
    if not rows:
        return
    cols = list(rows[0])
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    one = "(" + ", ".join([mark] * len(cols)) + ")"
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) VALUES "  # noqa: S608 - names are the schema's, values bound
    for lo in range(0, len(rows), _CHUNK):
        chunk = rows[lo : lo + _CHUNK]
        conn.exec_driver_sql(head + ", ".join([one] * len(chunk)),
                             tuple(r[c] for r in chunk for c in cols))


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
