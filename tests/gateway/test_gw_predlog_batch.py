"""A prediction-log backlog is committed as several batches in one transaction with one
signed checkpoint; a failed flush keeps every entry for the next attempt."""

from __future__ import annotations

from typing import Any

import pytest

from cpmap.core.ledger import Ledger, verify_ledger
from cpmap.errors import StoreError
from cpmap.gateway.predlog import PredictionLog, verify_batch

DIGEST = "ab" * 32


def _fill(log: PredictionLog, n: int) -> None:
    for i in range(n):
        log.add({"id": f"r{i}", "client": "alice", "status": 200 if i % 4 else 429,
                 "rows": 1, "input": None, "output": None, "reason": None, "ts": float(i)})


def test_backlog_is_one_transaction_with_one_checkpoint(ws: Any) -> None:
    log = PredictionLog(ws, "digits@1", DIGEST, batch=3, interval=60)
    _fill(log, 10)
    assert log.due()
    last = log.flush()
    ledger = Ledger(ws)
    assert log.batches == [0, 1, 2, 3] and last == 3
    assert sorted(ledger.checkpoints()) == [4]  # four batches, one signed tree head
    assert all(verify_batch(ws, b) for b in log.batches)
    counts = [ledger.get(b).predicate["metrics"]["entries"] for b in log.batches]
    assert counts == [3, 3, 3, 1]
    assert verify_ledger(ledger).size == 4
    assert log.flush() is None


def test_a_failed_flush_keeps_the_entries_in_order(ws: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from cpmap.gateway import predlog

    log = PredictionLog(ws, "digits@1", DIGEST, batch=2, interval=60)
    _fill(log, 5)
    real = predlog.append_batch_in

    def down(*a: Any) -> Any:
        raise StoreError("store down")

    monkeypatch.setattr(predlog, "append_batch_in", down)
    with pytest.raises(StoreError):
        log.flush()
    assert Ledger(ws).size() == 0 and [e["id"] for e in log._pending] == [
        f"r{i}" for i in range(5)]
    monkeypatch.setattr(predlog, "append_batch_in", real)
    log.flush()
    assert log.batches == [0, 1, 2] and all(verify_batch(ws, b) for b in log.batches)
