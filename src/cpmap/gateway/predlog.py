"""The prediction log: every request an entry, their digests batched into the ledger.

The request path only appends a small dict to a list. A background task flushes a batch every
``batch`` requests or ``interval`` seconds (whichever first), in a worker thread: the entries
(canonical JSON, inputs and outputs only as SHA-256 digests) are stored and the RFC 6962 root
over them is recorded as one signed CP7 ledger entry in the same transaction. So the log is
tamper-evident (:func:`verify_batch` recomputes the root) without a ledger write per request.
A backlog (the store was down, or load outran the flusher) is written as up to ``GROUP``
batches in one transaction with one signed checkpoint (:mod:`cpmap.core.sequencer`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from cpmap.core import merkle
from cpmap.core.evidence import canonical_json, seal
from cpmap.core.ledger import Ledger
from cpmap.core.sequencer import append_batch_in
from cpmap.errors import StoreError
from cpmap.gateway import evidence as ev
from cpmap.gateway.tables import gateway_predictions

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

log = logging.getLogger("cpmap.gateway")
GROUP = 16  # batches of a backlog committed together (one transaction, one checkpoint)


class PredictionLog:
    def __init__(self, ws: Workspace, ref: str, digest: str, batch: int = 256,
                 interval: float = 10.0) -> None:
        self.ws, self.ref, self.digest = ws, ref, digest
        self.batch, self.interval = max(1, batch), interval
        self._pending: list[dict[str, Any]] = []
        self._since = time.monotonic()
        self._lock = threading.Lock()  # the loop appends while a worker thread takes
        self._flushing = threading.Lock()
        self.batches: list[int] = []  # ledger entries written
        # CP8 writes its queryable rows in the same transaction (cpmap.monitor.predlog)
        self.on_batch: Callable[[Any, int, list[dict[str, Any]]], None] | None = None
        # CP9, in this writer thread: ``prepare`` hooks turn private request-path keys (leading
        # underscore, never written) into loggable fields; ``consumers`` read committed batches
        self.prepare: list[Callable[[list[dict[str, Any]]], None]] = []
        self.consumers: list[Callable[[list[dict[str, Any]]], None]] = []
        self.count = 0
        self.traffic = ev.Traffic(started=time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                        time.gmtime()))

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.count += 1
            entry["seq"] = self.count
            self._pending.append(entry)

    def due(self) -> bool:
        return bool(self._pending) and (len(self._pending) >= self.batch or
                                        time.monotonic() - self._since >= self.interval)

    def _take(self) -> list[dict[str, Any]]:
        with self._lock:
            n = self.batch * GROUP
            taken, self._pending = self._pending[:n], self._pending[n:]
            self._since = time.monotonic()
            return taken

    def flush(self) -> int | None:
        """Write the pending entries (up to ``GROUP`` batches of ``batch``) and their roots,
        all or none; the last ledger index written, or None when nothing was pending."""
        with self._flushing:
            taken = self._take()
            if not taken:
                return None
            try:
                indexes = self._write(taken)
            except Exception:
                with self._lock:  # keep them for the next attempt, in order
                    self._pending[:0] = taken
                raise
            self.batches += indexes
            return indexes[-1]

    def _write(self, taken: list[dict[str, Any]]) -> list[int]:
        _prepare(self.prepare, taken)
        groups = [taken[lo : lo + self.batch] for lo in range(0, len(taken), self.batch)]
        datas = [[canonical_json(e) for e in group] for group in groups]
        traffic, envelopes = self.traffic, []
        for group, data in zip(groups, datas, strict=True):
            traffic = _add(traffic, group)
            envelopes.append(seal(self._evidence(group, data, traffic), self.ws))
        ledger = Ledger(self.ws)
        with self.ws.store.write() as conn:
            entries = append_batch_in(ledger, conn, envelopes)
            conn.execute(insert(gateway_predictions), [
                {"batch": entry.index, "seq": i, "entry": d.decode()}
                for entry, data in zip(entries, datas, strict=True)
                for i, d in enumerate(data)])
            if self.on_batch is not None:
                for entry, group in zip(entries, groups, strict=True):
                    self.on_batch(conn, entry.index, group)
        ledger.witness(entries[-1])
        self.traffic = traffic  # counted once the batches are in the ledger
        for consume in self.consumers:
            try:
                consume(taken)
            except Exception:  # noqa: BLE001 - a detector must not stop the log
                log.exception("prediction log consumer failed")
        return [e.index for e in entries]

    def _evidence(self, taken: list[dict[str, Any]], data: list[bytes],
                  traffic: ev.Traffic) -> Any:
        root = merkle.root_of(merkle.leaf_hash(d) for d in data).hex()
        refused = sum(1 for e in taken if e.get("status", 200) >= 400)
        return ev.predictions(self.ref, self.digest, root, len(taken),
                              str(taken[0].get("ts")), str(taken[-1].get("ts")), refused,
                              traffic)

    async def run(self, stop: asyncio.Event) -> None:
        """Flush whenever due, until ``stop``; then flush what is left."""
        tick = min(0.5, self.interval) if self.interval > 0 else 0.5
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), tick)
            except TimeoutError:
                pass
            while self.due() or (stop.is_set() and self._pending):
                try:
                    await asyncio.to_thread(self.flush)
                except StoreError as e:  # the store is down: one line, retried next tick
                    log.error("prediction log flush failed, %d entries kept for retry: %s",
                              len(self._pending), e.message)
                    break
                except Exception:  # noqa: BLE001 - keep serving; retried on the next tick
                    log.exception("prediction log flush failed")
                    break


def _prepare(hooks: list[Callable[[list[dict[str, Any]]], None]],
             taken: list[dict[str, Any]]) -> None:
    """Run the prepare hooks, then drop every private key: raw inputs never reach the store."""
    for hook in hooks:
        try:
            hook(taken)
        except Exception:  # noqa: BLE001 - the entries are still written, without extras
            log.exception("prediction log prepare hook failed")
    for e in taken:
        for k in [k for k in e if k.startswith("_")]:
            del e[k]


def verify_batch(ws: Workspace, index: int) -> bool:
    """Whether the stored entries of batch ``index`` hash to the root its ledger entry signs."""
    entry = Ledger(ws).get(index)
    root = str(entry.predicate.get("details", {}).get("merkle_root", ""))
    with ws.store.read() as conn:
        rows = conn.execute(select(gateway_predictions.c.entry).where(
            gateway_predictions.c.batch == index).order_by(gateway_predictions.c.seq)).all()
    got = merkle.root_of(merkle.leaf_hash(str(r[0]).encode()) for r in rows).hex()
    return bool(rows) and got == root


def _add(t: ev.Traffic, taken: list[dict[str, Any]]) -> ev.Traffic:
    """``t`` plus a batch of log entries: requests, rows answered, refusals by status/reason."""
    refusals = dict(t.refusals)
    refused = 0
    for e in taken:
        status = int(e.get("status", 200))
        if status >= 400:
            refused += 1
            why = f"{status} {e.get('reason') or 'refused'}"
            refusals[why] = refusals.get(why, 0) + 1
    rows = sum(int(e.get("rows") or 0) for e in taken if int(e.get("status", 200)) < 400)
    return ev.Traffic(t.requests + len(taken), t.refused + refused, t.rows + rows, refusals,
                      t.started)
