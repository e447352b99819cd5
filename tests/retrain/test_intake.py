"""The intake refuses each kind of bad batch with its reason, and accepts a clean one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tests.retrain.conftest import write_batch

from cpmap.core.ledger import Ledger
from cpmap.retrain.intake import Batch, check_batch


def _intake_entries(ws: Any) -> list[dict[str, Any]]:
    return [e.predicate for e in Ledger(ws).entries(control="CP10", kind="retrain-intake")]


def test_clean_batch_is_accepted_and_registered(ws: Any, tmp_path: Path, anchor: Any,
                                                fresh_rows: Any) -> None:
    x, y = fresh_rows
    b = write_batch(tmp_path / "clean.csv", x, y)
    it = check_batch(ws, "digits", Batch(b, b.as_uri()), anchor)
    assert it.accepted, it.reason
    assert it.dataset is not None and it.dataset.name == "digits-intake"
    assert it.x is not None and len(it.x) == len(y)
    assert [c["check"] for c in it.checks] == ["provenance", "pii", "poisoning"]
    assert _intake_entries(ws)[-1]["metrics"]["accepted"] is True


def test_planted_pii_is_refused(ws: Any, tmp_path: Path, anchor: Any, fresh_rows: Any) -> None:
    x, y = fresh_rows
    emails = [f"writer{i}@example.com" for i in range(len(y))]
    b = write_batch(tmp_path / "pii.csv", x, y, {"submitted_by": emails})
    it = check_batch(ws, "digits", Batch(b, b.as_uri()), anchor)
    assert not it.accepted and it.refused_by == "CP2-pii"
    assert "EMAIL" in it.reason.upper() and "submitted_by" in it.reason
    assert it.x is None  # never handed to training
    assert _intake_entries(ws)[-1]["verdict"] == "fail"


def test_pii_metadata_is_redacted_when_configured(ws: Any, tmp_path: Path, anchor: Any,
                                                  fresh_rows: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("CPMAP_RETRAINING_PII", "redact")
    ws.config.clear()
    from cpmap.core import config as cfg

    ws.config.update(cfg.load(ws.dir / "cpmap.toml"))
    x, y = fresh_rows
    b = write_batch(tmp_path / "pii.csv", x, y,
                    {"submitted_by": [f"w{i}@example.com" for i in range(len(y))]})
    it = check_batch(ws, "digits", Batch(b, b.as_uri()), anchor)
    assert it.accepted, it.reason
    assert it.dataset is not None and it.dataset.parents  # the redacted copy, with lineage
    assert "submitted_by" not in Path(ws.absolute(it.dataset.path)).read_text()


def test_untrusted_source_is_refused(ws: Any, tmp_path: Path, anchor: Any,
                                     fresh_rows: Any) -> None:
    x, y = fresh_rows
    b = write_batch(tmp_path / "u.csv", x, y)
    it = check_batch(ws, "digits", Batch(b, "https://pastebin.example/u.csv"), anchor)
    assert not it.accepted and it.refused_by == "CP1-source"
    assert "not in the trusted sources" in it.reason


def test_tampered_bytes_are_refused(ws: Any, tmp_path: Path, anchor: Any,
                                    fresh_rows: Any) -> None:
    from cpmap.core.keys import SigningKey
    from cpmap.provenance import manifest, trust

    x, y = fresh_rows
    b = write_batch(tmp_path / "signed.csv", x, y)
    supplier = SigningKey.generate("acme")
    supplier.save(tmp_path / "acme.pem", tmp_path / "acme.pub")
    trust.add_key(ws, "acme", tmp_path / "acme.pub")
    att = tmp_path / "att.json"
    att.write_text(manifest.dump(manifest.sign(b, supplier)))
    ok = check_batch(ws, "digits", Batch(b, b.as_uri(), "acme", att), anchor)
    assert ok.accepted, ok.reason
    b.write_text(b.read_text().replace(",0\n", ",1\n", 3))  # three labels changed after signing
    it = check_batch(ws, "digits", Batch(b, b.as_uri(), "acme", att), anchor)
    assert not it.accepted and it.refused_by == "CP1-attestation"
    assert "does not match the supplier attestation" in it.reason


def test_poisoned_batch_is_refused(ws: Any, tmp_path: Path, anchor: Any,
                                   fresh_rows: Any) -> None:
    x, y = fresh_rows
    flipped = np.where(np.arange(len(y)) % 2 == 0, (y + 1) % 10, y)  # half the labels flipped
    b = write_batch(tmp_path / "poison.csv", x, flipped)
    it = check_batch(ws, "digits", Batch(b, b.as_uri()), anchor)
    assert not it.accepted and it.refused_by == "CP9-poisoning"
    assert "disagree with the training anchor" in it.reason
    poisoning = next(c for c in it.checks if c["check"] == "poisoning")
    assert poisoning["disagreeing"] >= len(y) // 3
    assert poisoning["disagreement"]["flagged"]  # CP9's by-class table names the classes


def test_the_verdict_is_cp9s(anchor: Any, fresh_rows: Any) -> None:
    """The intake's check is CP9's: the same PoisonResult verdict on the same rounds."""
    from dataclasses import replace

    from cpmap.drift.poisoning import Round, check, disagreement
    from cpmap.retrain.anchor import _anchor_noise, _neighbour_labels, compare, intake_policy

    x, y = fresh_rows
    for labels in (y, np.where(np.arange(len(y)) % 2 == 0, (y + 1) % 10, y)):
        ours = compare(anchor.x, anchor.y, x, labels, anchor.classes)
        cusum = check(Round(anchor.x, anchor.y), [Round(x, labels)], anchor.classes,
                      policy=intake_policy())
        wrong, rows = _anchor_noise(anchor.x, anchor.y.astype(np.int64), 10, 5, 500, 0)
        table = disagreement(_neighbour_labels(anchor.x, anchor.y, x, 5, False), labels,
                             wrong, rows, anchor.classes)
        cp9 = replace(cusum, disagreement=table)
        assert ours.poisoned == cp9.poisoned
        assert ours.result.disagreement == table
    assert not compare(anchor.x, anchor.y, x, y, anchor.classes).poisoned


def test_slow_poisoning_over_earlier_rounds_is_refused(anchor: Any) -> None:
    """Each round alone passes; accumulated against the anchor (CP9's CUSUM) it does not."""
    from cpmap.builtin import digits
    from cpmap.drift.poisoning import Round
    from cpmap.retrain.anchor import compare

    x, y = digits()
    rest_x, rest_y = x[1200:], y[1200:]
    # the attacker's rounds: over-sample class 7 (labels correct, so no disagreement)
    sevens = np.flatnonzero(rest_y == 7)
    others = np.flatnonzero(rest_y != 7)
    rng = np.random.default_rng(0)
    rounds = []
    for _ in range(8):
        pick = np.concatenate([rng.choice(sevens, 12), rng.choice(others, 48)])
        rounds.append(Round(rest_x[pick], rest_y[pick]))
    alone = compare(anchor.x, anchor.y, rounds[0].x, rounds[0].y, anchor.classes)
    assert not alone.poisoned, alone.reason()
    late = compare(anchor.x, anchor.y, rounds[-1].x, rounds[-1].y, anchor.classes,
                   earlier=rounds[:-1])
    assert late.poisoned and "cumulative shift" in late.reason()
    assert late.last.worst_class == "7"


def test_batches_of_earlier_runs_are_rounds_since_the_anchor(ws: Any, tmp_path: Path,
                                                             anchor: Any,
                                                             fresh_rows: Any) -> None:
    """A later run judges its batch after those earlier runs accepted against the same
    production version (the slow walk may be spread over runs); other versions' are not."""
    import json
    from types import SimpleNamespace

    from sqlalchemy import insert

    from cpmap.retrain.pipeline import _intake, _since_anchor
    from cpmap.retrain.tables import retrain_runs

    x, y = fresh_rows
    first = write_batch(tmp_path / "first.csv", x[:40], y[:40])
    it = check_batch(ws, "digits", Batch(first, first.as_uri()), anchor)
    assert it.accepted and it.dataset is not None
    batch = {"batch": "first.csv", "accepted": True, "dataset": it.dataset.ref}
    with ws.store.write() as conn:
        for run_id, prod in (("r1", "digits@1"), ("r0", "digits@0")):
            conn.execute(insert(retrain_runs).values(
                run_id=run_id, model="digits", trigger_key=f"manual:{run_id}",
                status="gate-failed", started_at="2026-12-01T00:00:00",
                summary=json.dumps({"production": prod, "batches": [batch]})))
    production: Any = SimpleNamespace(name="digits", ref="digits@1")
    rounds = _since_anchor(ws, production, anchor)
    assert [r.name for r in rounds] == ["first.csv"] and len(rounds[0].y) == 40
    second = write_batch(tmp_path / "second.csv", x[40:], y[40:])
    third = write_batch(tmp_path / "third.csv", x[:30], y[:30])
    got = _intake(ws, production, anchor, [Batch(second, second.as_uri()),
                                           Batch(third, third.as_uri())])
    assert [i.accepted for i in got] == [True, True]
    rounds_seen = [next(c for c in i.checks if c["check"] == "poisoning")["rounds"]
                   for i in got]
    assert rounds_seen == [2, 3]  # first.csv, then each batch after those before it
