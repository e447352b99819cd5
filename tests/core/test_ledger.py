"""Ledger appends, proofs, and detection of every kind of tampering, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from cpmap.core import merkle
from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.ledger import Ledger, export_ledger, verify_ledger
from cpmap.core.store import ledger_checkpoints, ledger_entries, ledger_state
from cpmap.core.verify import verify_export
from cpmap.errors import LedgerError


def _fill(ws: Any, n: int) -> Ledger:
    for i in range(n):
        record(Evidence("CP1", "test", [Subject(f"s{i}", hashlib.sha256(bytes([i])).hexdigest())],
                        Verdict.PASS, metrics={"i": i}), ws)
    return Ledger(ws)


def test_append_verify_and_proofs(any_ws: Any) -> None:
    ledger = _fill(any_ws, 9)
    report = verify_ledger(ledger)
    assert report.size == 9 and report.checkpoints == 9 and report.witness_size == 9
    p = ledger.inclusion_proof(4)
    assert merkle.verify_inclusion(p.leaf_hash, 4, 9, p.path, p.root)
    old, new, proof = ledger.consistency_proof(5)
    assert merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
    assert [e.index for e in ledger.entries(control="CP1")] == list(range(9))
    digest = hashlib.sha256(bytes([3])).hexdigest()
    assert [e.index for e in ledger.entries(digest=digest)] == [3]


def _expect_bad(ledger: Ledger, index: int) -> None:
    with pytest.raises(LedgerError) as err:
        verify_ledger(ledger)
    assert err.value.index == index, err.value.message
    assert f"ledger index {index}" in err.value.message


def _envelope(ws: Any, idx: int) -> bytes:
    with ws.store.read() as conn:
        return bytes(conn.execute(select(ledger_entries.c.envelope)
                                  .where(ledger_entries.c.idx == idx)).scalar_one())


def test_detects_edited_envelope(any_ws: Any) -> None:
    ledger = _fill(any_ws, 6)
    env = json.loads(_envelope(any_ws, 3))
    env["payload"] = env["payload"][:-4] + "AAA="
    with any_ws.store.write() as conn:
        conn.execute(update(ledger_entries).where(ledger_entries.c.idx == 3)
                     .values(envelope=json.dumps(env).encode()))
    _expect_bad(ledger, 3)


def test_detects_edited_envelope_with_recomputed_leaf(any_ws: Any) -> None:
    ledger = _fill(any_ws, 6)
    other = _envelope(any_ws, 1)
    with any_ws.store.write() as conn:  # replace entry 4 by a copy of a genuine signed entry
        conn.execute(update(ledger_entries).where(ledger_entries.c.idx == 4).values(
            envelope=other, leaf_hash=merkle.leaf_hash(other)))
    _expect_bad(ledger, 4)


def test_detects_deletion(any_ws: Any) -> None:
    ledger = _fill(any_ws, 6)
    with any_ws.store.write() as conn:
        conn.execute(delete(ledger_entries).where(ledger_entries.c.idx == 2))
    _expect_bad(ledger, 2)


def test_detects_reordering(any_ws: Any) -> None:
    ledger = _fill(any_ws, 6)
    a, b = _envelope(any_ws, 1), _envelope(any_ws, 4)
    with any_ws.store.write() as conn:
        for idx, env in ((1, b), (4, a)):
            conn.execute(update(ledger_entries).where(ledger_entries.c.idx == idx).values(
                envelope=env, leaf_hash=merkle.leaf_hash(env)))
    _expect_bad(ledger, 1)


def test_detects_insertion_at_the_end(any_ws: Any) -> None:
    ledger = _fill(any_ws, 4)
    env = _envelope(any_ws, 0)
    with any_ws.store.write() as conn:
        conn.execute(ledger_entries.insert().values(
            idx=4, leaf_hash=merkle.leaf_hash(env), envelope=env, control="CP1", kind="x",
            verdict="pass", created_at="2026-01-01"))
    _expect_bad(ledger, 4)


def test_detects_truncation_against_witness(any_ws: Any) -> None:
    ledger = _fill(any_ws, 6)
    with any_ws.store.write() as conn:  # drop the last two entries and their checkpoints
        conn.execute(delete(ledger_entries).where(ledger_entries.c.idx >= 4))
        conn.execute(delete(ledger_checkpoints).where(ledger_checkpoints.c.size >= 5))
        conn.execute(update(ledger_state).values(size=4))
    _expect_bad(ledger, 4)


def test_damaged_witness_is_a_failed_verification(ws: Any) -> None:
    ledger = _fill(ws, 2)
    ws.checkpoint_path.write_bytes(b"\xe3\x80garbage\xff\n")  # not even UTF-8
    with pytest.raises(LedgerError, match="checkpoint witness"):
        verify_ledger(ledger)
    ws.checkpoint_path.unlink()
    ws.checkpoint_path.mkdir()
    with pytest.raises(LedgerError, match="cannot read the checkpoint witness"):
        verify_ledger(ledger)


def test_detects_forged_checkpoint(any_ws: Any) -> None:
    ledger = _fill(any_ws, 5)
    with any_ws.store.write() as conn:
        note = conn.execute(select(ledger_checkpoints.c.note)
                            .where(ledger_checkpoints.c.size == 3)).scalar_one()
        forged = note.replace("\n3\n", "\n3\n", 1).replace(note.split("\n")[2], "A" * 43 + "=")
        conn.execute(update(ledger_checkpoints).where(ledger_checkpoints.c.size == 3)
                     .values(note=forged))
    _expect_bad(ledger, 2)


# -- exports ---------------------------------------------------------------------------------


def _export(ws: Any, tmp_path: Path, n: int = 7) -> tuple[Path, list[str]]:
    ledger = _fill(ws, n)
    out = tmp_path / "export.jsonl"
    export_ledger(ledger, out)
    return out, out.read_text().splitlines()


def _expect_export_bad(ws: Any, path: Path, lines: list[str], index: int) -> None:
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LedgerError) as err:
        verify_export(path, ws.public_key)
    assert err.value.index == index, err.value.message


def test_export_verifies_with_public_key_only(ws: Any, tmp_path: Path) -> None:
    path, lines = _export(ws, tmp_path)
    report = verify_export(path, ws.public_key)
    assert report.size == 7 and report.checkpoints == 7


def test_export_edit_detected(ws: Any, tmp_path: Path) -> None:
    path, lines = _export(ws, tmp_path)
    obj = json.loads(lines[3])  # entry index 2
    obj["envelope"]["payloadType"] = "text/plain"
    lines[3] = json.dumps(obj)
    _expect_export_bad(ws, path, lines, 2)


def test_export_deletion_detected(ws: Any, tmp_path: Path) -> None:
    path, lines = _export(ws, tmp_path)
    del lines[4]  # entry index 3
    _expect_export_bad(ws, path, lines, 3)


def test_export_insertion_detected(ws: Any, tmp_path: Path) -> None:
    path, lines = _export(ws, tmp_path)
    lines.insert(3, lines[2])  # duplicate entry index 1 after itself
    _expect_export_bad(ws, path, lines, 1)


def test_export_reorder_detected(ws: Any, tmp_path: Path) -> None:
    path, lines = _export(ws, tmp_path)
    lines[2], lines[5] = lines[5], lines[2]  # entries 1 and 4 swapped
    _expect_export_bad(ws, path, lines, 1)


def test_export_renumbered_reorder_detected(ws: Any, tmp_path: Path) -> None:
    path, lines = _export(ws, tmp_path)
    a, b = json.loads(lines[2]), json.loads(lines[5])
    a["envelope"], b["envelope"] = b["envelope"], a["envelope"]
    lines[2], lines[5] = json.dumps(a), json.dumps(b)
    _expect_export_bad(ws, path, lines, 1)


def test_export_truncation_detected(ws: Any, tmp_path: Path) -> None:
    path, lines = _export(ws, tmp_path)
    _expect_export_bad(ws, path, lines[:-2], 5)


def test_export_replacement_detected(ws: Any, tmp_path: Path) -> None:
    path, lines = _export(ws, tmp_path)
    obj = json.loads(lines[6])  # entry 5 replaced by entry 0's (validly signed) envelope
    obj["envelope"] = json.loads(lines[1])["envelope"]
    lines[6] = json.dumps(obj)
    _expect_export_bad(ws, path, lines, 5)


def test_export_wrong_key_rejected(ws: Any, tmp_path: Path) -> None:
    from cpmap.core.keys import SigningKey

    path, _ = _export(ws, tmp_path, 2)
    with pytest.raises(LedgerError):
        verify_export(path, SigningKey.generate().public)


def test_export_garbage_line_detected(ws: Any, tmp_path: Path) -> None:
    path, lines = _export(ws, tmp_path)
    lines[3] = "{not json"
    _expect_export_bad(ws, path, lines, 2)


def test_export_header_checkpoint_of_wrong_type_detected(ws: Any, tmp_path: Path) -> None:
    path, lines = _export(ws, tmp_path, 2)
    header = json.loads(lines[0])
    header["checkpoint"] = 5
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    with pytest.raises(LedgerError, match="header checkpoint"):
        verify_export(path, ws.public_key)


def test_intermediate_checkpoint_signature_checked_on_request(ws: Any) -> None:
    ledger = _fill(ws, 5)
    with ws.store.write() as conn:
        note = conn.execute(select(ledger_checkpoints.c.note)
                            .where(ledger_checkpoints.c.size == 2)).scalar_one()
        body, sig = note.split("\n\n")
        blob = sig.split(" ")[2]
        bad = note.replace(blob, blob[:10] + ("A" if blob[10] != "A" else "B") + blob[11:])
        conn.execute(update(ledger_checkpoints).where(ledger_checkpoints.c.size == 2)
                     .values(note=bad))
    assert verify_ledger(ledger).size == 5  # the root still matches the signed tree
    with pytest.raises(LedgerError) as err:
        verify_ledger(ledger, all_signatures=True)
    assert err.value.index == 1


def test_missing_witness_is_reported(ws: Any) -> None:
    ledger = _fill(ws, 3)
    ws.checkpoint_path.unlink()
    report = verify_ledger(ledger)
    assert report.witness_size is None
    assert any("no checkpoint witness" in n for n in report.notes)


def test_a_reader_racing_an_append_is_not_a_truncation(any_ws: Any) -> None:
    """A read snapshot taken before another writer's commit sees a smaller signed checkpoint
    than the witness that writer then advanced: the reader gets the older, consistent log
    (a gateway's key refresh used to fail closed on this), while a real truncation is still
    refused by every reader that decides."""
    from sqlalchemy import func

    from cpmap.core.verified import SignedLog
    from cpmap.gate.evidence import collect

    _fill(any_ws, 3)
    with any_ws.store.read() as conn:
        conn.execute(select(func.count()).select_from(ledger_entries)).scalar()  # snapshot
        _fill(any_ws, 1)  # commits and advances the witness to 4
        log = SignedLog.load(any_ws, conn)
    assert log.size == 3
    assert collect(any_ws, []).problem is None
    with any_ws.store.write() as conn:  # now truncate for real: the store falls behind
        conn.execute(delete(ledger_entries).where(ledger_entries.c.idx >= 3))
        conn.execute(delete(ledger_checkpoints).where(ledger_checkpoints.c.size >= 4))
        conn.execute(update(ledger_state).values(size=3))
    with pytest.raises(LedgerError, match="witness covers 4"):
        SignedLog.load(any_ws)
    assert "witness covers 4" in (collect(any_ws, []).problem or "")
