"""Claims under row locks, decisions in the ledger, two-reviewer agreement, export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.review.conftest import seed

from cpmap.core.ledger import Ledger
from cpmap.errors import InputError
from cpmap.review import queue


def test_two_reviewers_never_hold_the_same_item(any_ws: Any) -> None:
    seed(any_ws, 2)
    a, b = queue.claim(any_ws, "alice"), queue.claim(any_ws, "bob")
    assert a is not None and b is not None and a.id != b.id
    assert queue.claim(any_ws, "carol") is None  # both held
    with pytest.raises(InputError, match="not claimed by bob"):
        queue.decide(any_ws, "bob", a.id, "label", "3")
    done = queue.decide(any_ws, "alice", a.id, "label", "3")
    assert done.status == "final" and done.label == "3"
    entries = Ledger(any_ws).entries(control="CP10", kind="review-decision")
    assert [e.predicate["details"]["reviewer"] for e in entries] == ["alice"]


def test_agreement_needs_two_matching_decisions(ws: Any, monkeypatch: Any) -> None:
    from cpmap.core import config as cfg

    monkeypatch.setenv("CPMAP_REVIEW_AGREEMENT", "2")
    ws.config.clear()
    ws.config.update(cfg.load(ws.dir / "cpmap.toml"))
    [item] = seed(ws, 1)
    assert queue.decide(ws, "alice", queue.claim(ws, "alice").id, "attack", "7").status == "open"
    assert queue.claim(ws, "alice") is None  # she decided it: it waits for someone else
    second = queue.claim(ws, "bob")
    assert second is not None and second.id == item
    final = queue.decide(ws, "bob", item, "attack", "7")
    assert (final.status, final.decision, final.label) == ("final", "attack", "7")


def test_export_is_signed_and_registered_with_lineage(ws: Any, tmp_path: Path) -> None:
    from cpmap.provenance.datasets import parents_of
    from cpmap.review.export import export

    ids = seed(ws, 3)
    for decision, label in (("label", "0"), ("attack", "1"), ("noise", None)):
        item = queue.claim(ws, "alice")
        assert item is not None
        queue.decide(ws, "alice", item.id, decision, label)
    out = export(ws, "digits", tmp_path / "curated")
    assert (out.rows, out.attacks) == (2, 1)
    assert out.csv.read_text().splitlines()[0].endswith(",label")
    assert out.attestation.is_file()
    parents = {d for d, _ in parents_of(ws, out.dataset.digest)}
    assert parents == {queue.get(ws, i).digest for i in ids[:2]}
