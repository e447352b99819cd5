"""The gate and the alias resolver when a store writer without the key edits the index tables:
the subject index cannot hide failing evidence and model_aliases cannot repoint production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, update

from cpmap.core.derived_tables import check_derived
from cpmap.core.ledger import Ledger
from cpmap.core.store import ledger_subjects
from cpmap.core.verified import IntegrityError
from cpmap.gate.evaluate import evaluate
from cpmap.registry.stages import GateFailed, promote, rollback
from cpmap.registry.tables import model_aliases, model_events
from cpmap.registry.versions import get, verify

from .conftest import Kit

pytestmark = pytest.mark.postgres


def _failing(kit: Kit) -> tuple[Any, int]:
    """A model version whose CP3 scan says malicious; returns it and that entry's index."""
    mv = kit.model()
    kit.everything(mv)
    kit.cp7(mv)  # production needs a gateway check
    kit.cp3(mv, verdict="malicious")
    return mv, Ledger(kit.ws).size() - 1


def test_subject_index_edit_does_not_let_a_failing_model_pass(any_ws: Any,
                                                              tmp_path: Path) -> None:
    mv, scan = _failing(Kit(any_ws, tmp_path))
    assert not evaluate(any_ws, mv).passed
    with any_ws.store.write() as conn:  # the attack: the failing scan no longer indexed
        conn.execute(update(ledger_subjects).where(ledger_subjects.c.idx == scan)
                     .values(digest="0" * 64))
    with pytest.raises(IntegrityError, match=f"ledger_subjects row idx {scan} position 0"):
        evaluate(any_ws, mv)
    with pytest.raises(IntegrityError):
        promote(any_ws, mv.ref)
    with pytest.raises(IntegrityError, match="store table ledger_subjects"):
        check_derived(any_ws)


def test_deleted_subject_rows_are_caught(any_ws: Any, tmp_path: Path) -> None:
    mv, scan = _failing(Kit(any_ws, tmp_path))
    with any_ws.store.write() as conn:
        conn.execute(delete(ledger_subjects).where(ledger_subjects.c.idx == scan))
    with pytest.raises(IntegrityError, match="missing"):
        evaluate(any_ws, mv)


def _promoted_then_ungated(kit: Kit) -> tuple[Any, Any]:
    first = kit.model(content=b"one")
    kit.everything(first)
    kit.cp7(first)  # production needs a gateway check
    promote(kit.ws, first.ref)
    second = kit.model(content=b"two")  # no evidence: the gate would refuse it
    with pytest.raises(GateFailed):
        promote(kit.ws, second.ref)
    return first, second


def test_repointed_production_alias_is_refused(any_ws: Any, tmp_path: Path) -> None:
    first, second = _promoted_then_ungated(Kit(any_ws, tmp_path))
    assert get(any_ws, "clf@production").version == first.version
    with any_ws.store.write() as conn:  # the attack
        conn.execute(update(model_aliases).values(version=second.version))
    with pytest.raises(IntegrityError, match="model_aliases row clf@production: version"):
        get(any_ws, "clf@production")
    problems = verify(any_ws, first).problems
    assert any("model_aliases" in p for p in problems)
    with pytest.raises(IntegrityError, match="store table model_aliases"):
        check_derived(any_ws)


def test_alias_row_repointed_to_an_older_promotion_is_refused(any_ws: Any,
                                                              tmp_path: Path) -> None:
    kit = Kit(any_ws, tmp_path)
    first = kit.model(content=b"one")
    second = kit.model(content=b"two")
    entries = []
    for mv in (first, second):
        kit.everything(mv)
        kit.cp7(mv)  # production needs a gateway check
        entries.append(promote(any_ws, mv.ref)[0].entry)
    with any_ws.store.write() as conn:  # silently "roll back" with the old signed promotion
        conn.execute(update(model_aliases).values(version=first.version, entry=entries[0]))
    with pytest.raises(IntegrityError, match=f"signed entry #{entries[1]} moved it later"):
        get(any_ws, "clf@production")


def test_inserted_promote_event_does_not_steer_rollback(any_ws: Any, tmp_path: Path) -> None:
    kit = Kit(any_ws, tmp_path)
    first = kit.model(content=b"one")
    ungated = kit.model(content=b"two")
    third = kit.model(content=b"three")
    for mv in (first, third):
        kit.everything(mv)
        kit.cp7(mv)  # production needs a gateway check
        promote(any_ws, mv.ref)
    with any_ws.store.write() as conn:  # the attack: a fake approval of the ungated version,
        conn.execute(update(model_events).where(model_events.c.version == third.version)
                     .values(seq=100))  # placed between the two real ones
        conn.execute(model_events.insert().values(
            seq=50, name="clf", stage="production", action="promote", version=ungated.version,
            from_version=first.version, created_at="now", entry=0))
    assert rollback(any_ws, "clf").version == first.version  # the signed history decides


def test_inserted_stage_alias_is_refused(any_ws: Any, tmp_path: Path) -> None:
    first, second = _promoted_then_ungated(Kit(any_ws, tmp_path))
    with any_ws.store.write() as conn:  # the attack: a staging pointer no move ever signed
        conn.execute(model_aliases.insert().values(name="clf", alias="staging",
                                                   version=second.version, updated_at="now",
                                                   entry=0))
    with pytest.raises(IntegrityError, match="model_aliases row clf@staging: no signed"):
        get(any_ws, "clf@staging")
    with pytest.raises(IntegrityError, match="model_aliases row clf@staging"):
        promote(any_ws, first.ref, stage="staging")
    with pytest.raises(IntegrityError, match="store table model_aliases row clf@staging"):
        check_derived(any_ws)
