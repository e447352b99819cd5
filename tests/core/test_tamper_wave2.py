"""A store writer without the signing key edits the wave-2 state: review decisions and
rollout steps. The deciding reader refuses, ``ledger verify`` names the table and the row.
Each attack on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import insert, update
from tests.core.test_tamper_tables import run
from tests.review.conftest import seed

from cpmap.core.derived_tables import check_derived
from cpmap.core.verified import IntegrityError
from cpmap.retrain import rollout
from cpmap.retrain.tables import retrain_rollouts
from cpmap.review import queue
from cpmap.review.tables import review_decisions, review_items

pytestmark = pytest.mark.postgres


def _verify_fails(ws: Any, capsys: pytest.CaptureFixture[str], table: str, row: str) -> None:
    with pytest.raises(IntegrityError, match=f"store table {table} row {row}"):
        check_derived(ws)
    code, _, err = run(ws, capsys, "ledger", "verify")
    assert code == 1 and f"store table {table} row {row}" in err


def _decided(ws: Any, decision: str = "label", label: str | None = "3") -> int:
    item = queue.claim(ws, "alice")
    assert item is not None
    return queue.decide(ws, "alice", item.id, decision, label).id


# -- review decisions ---------------------------------------------------------------------------

def test_honest_review_verifies(any_ws: Any) -> None:
    seed(any_ws, 3)
    _decided(any_ws)
    _decided(any_ws, "noise", None)
    counts = check_derived(any_ws)
    assert counts["review_decisions"] == 2 and counts["review_items (decided)"] == 2
    assert [i.label for i in queue.final_items(any_ws, "digits")] == ["3", None]


def test_relabelled_final_item_is_refused_by_the_export(any_ws: Any, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    seed(any_ws, 2)
    item = _decided(any_ws)
    with any_ws.store.write() as conn:  # the attack: poison the curated training data
        conn.execute(update(review_items).where(review_items.c.id == item).values(label="7"))
    with pytest.raises(IntegrityError, match=f"review_items row item {item}: label is '7', "
                                             "the signed log says '3'"):
        queue.final_items(any_ws, "digits")
    code, _, err = run(any_ws, capsys, "review", "export", "digits", "-o", str(tmp_path / "out"))
    assert code == 1 and f"store table review_items row item {item}" in err
    assert not (tmp_path / "out" / "curated.csv").exists()
    _verify_fails(any_ws, capsys, "review_items", f"item {item}")


def test_unreviewed_item_marked_final_is_refused(any_ws: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    ids = seed(any_ws, 2)
    with any_ws.store.write() as conn:
        conn.execute(update(review_items).where(review_items.c.id == ids[1]).values(
            status="final", decision="label", label="1"))
    with pytest.raises(IntegrityError, match=f"item {ids[1]}: no signed ledger entry"):
        queue.final_items(any_ws, "digits")
    _verify_fails(any_ws, capsys, "review_items", f"item {ids[1]}")


def test_edited_input_of_a_decided_item_is_refused(any_ws: Any) -> None:
    seed(any_ws, 1)
    item = _decided(any_ws)
    with any_ws.store.write() as conn:  # the label now sits on another image
        conn.execute(update(review_items).where(review_items.c.id == item).values(
            input="[" + ", ".join(["16.0"] * 64) + "]"))
    with pytest.raises(IntegrityError, match=f"item {item}: digest is"):
        queue.final_items(any_ws, "digits")


def test_edited_or_inserted_decision_does_not_count_towards_agreement(
        any_ws: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    from cpmap.core import config as cfg

    monkeypatch.setenv("CPMAP_REVIEW_AGREEMENT", "2")
    any_ws.config.clear()
    any_ws.config.update(cfg.load(any_ws.dir / "cpmap.toml"))
    seed(any_ws, 2)
    first = _decided(any_ws, "label", "3")
    assert queue.get(any_ws, first).status == "open"  # one of two reviewers
    with any_ws.store.write() as conn:  # the attack: alice "agreed" with what bob will say
        conn.execute(update(review_decisions).values(label="5"))
    bob = queue.claim(any_ws, "bob")
    assert bob is not None and bob.id == first
    with pytest.raises(IntegrityError, match=f"review_decisions row item {first} reviewer "
                                             "'alice': label is '5'"):
        queue.decide(any_ws, "bob", first, "label", "5")
    _verify_fails(any_ws, capsys, "review_decisions", f"item {first} reviewer 'alice'")
    with any_ws.store.write() as conn:  # repaired, then a forged second reviewer
        conn.execute(update(review_decisions).values(label="3"))
        conn.execute(insert(review_decisions).values(item=first, reviewer="mallory",
                                                     decision="label", label="5",
                                                     created_at="now", entry=0))
    with pytest.raises(IntegrityError, match="reviewer 'mallory': no signed ledger entry"):
        queue.decide(any_ws, "bob", first, "label", "5")
    assert queue.get(any_ws, first).status == "open"


# -- rollout steps ------------------------------------------------------------------------------

def _version(n: int) -> Any:
    """A registry version as the rollout's storage layer uses it."""
    return SimpleNamespace(name="clf", version=n, ref=f"clf@{n}", digest=f"{n:02d}" * 32)


def _decision() -> rollout.Decision:
    return rollout.Decision("rollback", ("error rate higher on the candidate",), {}, "alert")


def test_honest_rollout_steps_verify(any_ws: Any) -> None:
    rollout.open_rollout(any_ws, _version(2), _version(1), 0.2)
    assert rollout.status(any_ws, "clf")["share"] == pytest.approx(0.2)
    rollout.close_rollout(any_ws, _version(2), _version(1), "rollback", 0.2, _decision())
    assert rollout.status(any_ws, "clf")["status"] == "rolled-back"
    assert check_derived(any_ws)["retrain_rollouts"] == 1


@pytest.mark.parametrize(("column", "value", "says"), [
    ("share", 0.9, "share is 0.9, ledger entry #0 signed 0.2"),
    ("candidate", 3, "candidate is 3, ledger entry #0 signed 2"),
])
def test_edited_rollout_row_is_refused(any_ws: Any, capsys: pytest.CaptureFixture[str],
                                       column: str, value: Any, says: str) -> None:
    rollout.open_rollout(any_ws, _version(2), _version(1), 0.2)
    with any_ws.store.write() as conn:  # the attack: more traffic, or another candidate
        conn.execute(update(retrain_rollouts).values({column: value}))
    with pytest.raises(IntegrityError, match=f"retrain_rollouts row clf: {says}"):
        rollout.status(any_ws, "clf")
    code, _, err = run(any_ws, capsys, "rollout", "status", "clf")
    assert code == 1 and "store table retrain_rollouts row clf" in err
    _verify_fails(any_ws, capsys, "retrain_rollouts", "clf")


def test_reopened_rolled_back_canary_is_refused(any_ws: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    start = rollout.open_rollout(any_ws, _version(2), _version(1), 0.2)
    closed = rollout.close_rollout(any_ws, _version(2), _version(1), "rollback", 0.2,
                                   _decision())
    with any_ws.store.write() as conn:  # the attack: serve the rolled-back candidate again
        conn.execute(update(retrain_rollouts).values(status="canary", entry=start))
    with pytest.raises(IntegrityError, match=f"names ledger entry #{start}, but signed entry "
                                             f"#{closed} moved it later, to status "
                                             "'rolled-back'"):
        rollout.compare(any_ws, "clf")
    _verify_fails(any_ws, capsys, "retrain_rollouts", "clf")
