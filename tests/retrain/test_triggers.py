"""One run per trigger, never two at once per model, every trigger a ledger entry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.ledger import Ledger
from cpmap.retrain.cron import last_slot, parse
from cpmap.retrain.triggers import RunInProgress, Trigger, accept, alerts, pending, run_lock


def _drift(ws: Any, digest: str, verdict: Verdict) -> int:
    finding = Finding("CP9-DRIFT", Severity.HIGH, "input drift on 12 of 64 features",
                      Location("digits"), "retrain")
    return record(Evidence("CP9", "drift", [Subject("model:digits@1", digest)], verdict,
                           findings=[finding]), ws).index


def _model(ws: Any, tmp_path: Any) -> Any:
    from cpmap.registry.versions import register

    path = tmp_path / "m.onnx"
    path.write_bytes(b"model bytes")
    return register(ws, "digits", path).version


def test_failing_cp9_evidence_is_a_trigger_once(any_ws: Any, tmp_path: Any) -> None:
    mv = _model(any_ws, tmp_path)
    _drift(any_ws, mv.digest, Verdict.PASS)
    index = _drift(any_ws, mv.digest, Verdict.FAIL)
    found = alerts(any_ws, "digits")
    assert [(t.trigger, t.key, t.source_entry) for t in found] == [
        ("drift", f"drift:#{index}", index)]
    assert "input drift" in found[0].reason
    assert accept(any_ws, found[0], "run-1") is True
    assert accept(any_ws, found[0], "run-2") is False  # idempotent: one run per trigger
    assert pending(any_ws, "digits") == []
    entries = Ledger(any_ws).entries(control="CP10", kind="retrain-trigger")
    assert len(entries) == 1 and entries[0].predicate["details"]["key"] == f"drift:#{index}"


def test_run_lock_excludes_a_second_run(any_ws: Any) -> None:
    with run_lock(any_ws, "digits"):
        with pytest.raises(RunInProgress, match="another retraining run"):
            with run_lock(any_ws, "digits"):
                pass
        with run_lock(any_ws, "other-model"):  # other models are not blocked
            pass
    with run_lock(any_ws, "digits"):  # released
        pass


def test_schedule_slots_are_trigger_keys(ws: Any, monkeypatch: Any) -> None:
    from cpmap.core import config as cfg

    monkeypatch.setenv("CPMAP_RETRAINING_SCHEDULE", "0 3 * * 0")
    ws.config.clear()
    ws.config.update(cfg.load(ws.dir / "cpmap.toml"))
    now = datetime(2026, 12, 3, 13, 20, tzinfo=UTC)  # a Thursday
    first = pending(ws, "digits", now)
    assert [t.key for t in first] == ["schedule:digits:2026-11-29T03:00"]
    assert accept(ws, first[0], "r")
    assert pending(ws, "digits", now) == []  # a second worker wakes: nothing to do
    later = pending(ws, "digits", datetime(2026, 12, 6, 3, 1, tzinfo=UTC))
    assert [t.key for t in later] == ["schedule:digits:2026-12-06T03:00"]


def test_cron_syntax() -> None:
    at = datetime(2026, 12, 3, 13, 20)
    assert last_slot(parse("*/15 * * * *"), at) == datetime(2026, 12, 3, 13, 15)
    assert last_slot(parse("30 1 1,15 * *"), at) == datetime(2026, 12, 1, 1, 30)
    with pytest.raises(Exception, match="needs 5 fields"):
        parse("0 3 * *")
    with pytest.raises(Exception, match="outside 0-59"):
        parse("61 3 * * *")


def test_manual_triggers_are_distinct() -> None:
    from cpmap.retrain.triggers import manual

    a, b = manual("digits", "x"), manual("digits", "x")
    assert a.key != b.key and isinstance(a, Trigger)
