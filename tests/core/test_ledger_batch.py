"""Batch appends: one transaction and one signed checkpoint per batch, from several processes
and threads at once, with every verification check still finding tampering."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any

import pytest
from sqlalchemy import select, update

from cpmap.core.evidence import Evidence, Subject, Verdict, seal
from cpmap.core.ledger import Ledger, verify_ledger
from cpmap.core.sequencer import MAX_BATCH, Sequencer, append_batch
from cpmap.core.store import ledger_checkpoints, ledger_entries
from cpmap.errors import InputError, LedgerError

BATCHER = """
import hashlib, sys
from cpmap.core.evidence import Evidence, Subject, Verdict, seal
from cpmap.core.ledger import Ledger
from cpmap.core.sequencer import append_batch
from cpmap.core.workspace import open_workspace
ws = open_workspace(sys.argv[1])
tag, batches, size = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ledger = Ledger(ws)
for b in range(batches):
    envs = [seal(Evidence("CP1", "concurrency", [Subject(f"{tag}-{b}-{i}",
            hashlib.sha256(f"{tag}-{b}-{i}".encode()).hexdigest())], Verdict.PASS), ws)
            for i in range(size)]
    entries = append_batch(ledger, envs)
    print(" ".join(str(e.index) for e in entries), flush=True)
"""


def _envelopes(ws: Any, tag: str, n: int) -> list[Any]:
    return [seal(Evidence("CP1", "concurrency", [Subject(f"{tag}-{i}", hashlib.sha256(
        f"{tag}-{i}".encode()).hexdigest())], Verdict.PASS), ws) for i in range(n)]


def _spawn(ws: Any, tag: str, batches: int, size: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if not ws.store.is_sqlite:
        env["CPMAP_DATABASE_URL"] = ws.store.url
    return subprocess.Popen([sys.executable, "-c", BATCHER, str(ws.root), tag, str(batches),
                             str(size)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def test_one_checkpoint_per_batch_and_the_log_verifies(any_ws: Any) -> None:
    ledger = Ledger(any_ws)
    first = append_batch(ledger, _envelopes(any_ws, "a", 7))
    second = append_batch(ledger, _envelopes(any_ws, "b", 5))
    assert [e.index for e in first + second] == list(range(12))
    assert sorted(ledger.checkpoints()) == [7, 12]
    assert all(e.checkpoint == first[-1].checkpoint for e in first)
    report = verify_ledger(ledger, all_signatures=True)
    assert report.size == 12 and report.checkpoints == 2
    assert ledger.get(3).checkpoint == first[-1].checkpoint  # the first covering checkpoint
    proof = ledger.inclusion_proof(9)
    assert proof.tree_size == 12 and proof.leaf_hash == second[2].leaf_hash
    assert append_batch(ledger, []) == []


def test_an_oversized_batch_changes_nothing(ws: Any) -> None:
    ledger = Ledger(ws)
    append_batch(ledger, _envelopes(ws, "a", 2))
    env = _envelopes(ws, "x", 1)[0]
    with pytest.raises(InputError, match="at most"):
        append_batch(ledger, [env] * (MAX_BATCH + 1))
    assert ledger.size() == 2 and verify_ledger(ledger).size == 2


@pytest.mark.parametrize("edit", ["envelope", "delete", "checkpoint"])
def test_tampering_inside_a_batch_is_found(ws: Any, edit: str) -> None:
    ledger = Ledger(ws)
    append_batch(ledger, _envelopes(ws, "a", 6))
    append_batch(ledger, _envelopes(ws, "b", 6))
    with ws.store.write() as conn:
        if edit == "envelope":  # a different, validly signed envelope in place of entry 3
            other = _envelopes(ws, "evil", 1)[0].to_json()
            conn.execute(update(ledger_entries).where(ledger_entries.c.idx == 3)
                         .values(envelope=other))
        elif edit == "delete":
            conn.execute(ledger_entries.delete().where(ledger_entries.c.idx == 4))
        else:
            note = conn.execute(select(ledger_checkpoints.c.note).where(
                ledger_checkpoints.c.size == 6)).scalar_one()
            conn.execute(update(ledger_checkpoints).where(ledger_checkpoints.c.size == 6)
                         .values(note=note.replace("\n6\n", "\n5\n", 1)))
    with pytest.raises(LedgerError) as info:
        verify_ledger(ledger)
    expected = {"envelope": "ledger index 3", "delete": "ledger index 4",
                "checkpoint": "ledger index 5"}[edit]
    assert expected in info.value.message


def test_batches_from_several_processes_interleave_whole(any_ws: Any) -> None:
    procs = [_spawn(any_ws, f"p{i}", 4, 25) for i in range(3)]
    batches: list[list[int]] = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        batches += [[int(x) for x in line.split()] for line in out.splitlines()]
    assert sorted(i for b in batches for i in b) == list(range(300))
    for b in batches:  # a batch holds consecutive indexes: nobody wrote into its middle
        assert b == list(range(b[0], b[0] + 25))
    ledger = Ledger(any_ws)
    assert sorted(ledger.checkpoints()) == sorted(b[-1] + 1 for b in batches)
    assert verify_ledger(ledger).size == 300


def test_sequencer_group_commits_many_threads(any_ws: Any) -> None:
    ledger = Ledger(any_ws)
    seq = Sequencer(ledger, max_batch=64)
    envs = {t: _envelopes(any_ws, f"t{t}", 20) for t in range(8)}
    got: dict[int, list[int]] = {}
    start = threading.Barrier(8)

    def work(t: int) -> None:
        start.wait()
        got[t] = [seq.append(e).index for e in envs[t]]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert sorted(i for v in got.values() for i in v) == list(range(160))
    for t, indexes in got.items():  # each thread's own appends keep their order
        assert indexes == sorted(indexes)
        assert [ledger.get(i).envelope.to_json() for i in indexes] == [
            e.to_json() for e in envs[t]]
    assert 1 <= seq.batches <= 160
    assert verify_ledger(ledger).size == 160


def test_sequencer_reports_a_failed_batch_to_its_callers(ws: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from cpmap.core import sequencer
    from cpmap.errors import StoreError

    seq = Sequencer(Ledger(ws))
    real = sequencer.append_batch

    def down(ledger: Any, envs: Any) -> Any:
        raise StoreError("store down")

    monkeypatch.setattr(sequencer, "append_batch", down)
    with pytest.raises(StoreError, match="store down"):
        seq.append(_envelopes(ws, "a", 1)[0])
    monkeypatch.setattr(sequencer, "append_batch", real)
    assert seq.append(_envelopes(ws, "b", 1)[0]).index == 0  # the next caller leads again
    assert verify_ledger(Ledger(ws)).size == 1


@pytest.mark.slow
def test_sigkill_of_batch_writers_leaves_whole_batches(any_ws: Any) -> None:
    import time

    acked: set[int] = set()
    for round_ in range(3):
        procs = [_spawn(any_ws, f"r{round_}p{i}", 1000, 50) for i in range(2)]
        for p in procs:
            assert p.stdout is not None
            first = p.stdout.readline()
            assert first, p.stderr.read() if p.stderr else "batcher exited"
            acked |= {int(x) for x in first.split()}
        time.sleep(0.2 + 0.2 * round_)
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            out, _ = p.communicate(timeout=60)
            acked |= {int(x) for x in out.split()}
        report = verify_ledger(Ledger(any_ws))
        assert report.size % 50 == 0  # only whole batches were committed
        assert acked <= set(range(report.size))


def test_rows_with_copy_special_characters_round_trip(any_ws: Any) -> None:
    """PostgreSQL batches are written with COPY: tabs, newlines, backslashes, ``\\N`` and
    non-ASCII in a subject name reach the subject index unchanged, and the log verifies."""
    from cpmap.core.store import ledger_subjects

    names = ["tab\there", "new\nline", "back\\slash", "\\N", "", "naïve ✓", "a\r\nb"]
    envs = [seal(Evidence("CP1", "concurrency", [Subject(n, hashlib.sha256(n.encode())
                                                         .hexdigest())], Verdict.PASS), any_ws)
            for n in names]
    entries = append_batch(Ledger(any_ws), envs)
    with any_ws.store.read() as conn:
        rows = conn.execute(select(ledger_subjects.c.name, ledger_subjects.c.digest)
                            .order_by(ledger_subjects.c.idx)).all()
        stored = conn.execute(select(ledger_entries.c.envelope)
                              .order_by(ledger_entries.c.idx)).scalars().all()
    assert [r[0] for r in rows] == names
    assert [bytes(s) for s in stored] == [e.to_json() for e in envs]
    assert [e.index for e in entries] == list(range(len(names)))
    assert verify_ledger(Ledger(any_ws), all_signatures=True).size == len(names)


def test_concurrent_batch_writers_then_the_cli_verifies(any_ws: Any) -> None:
    """Several processes appending batches at once, then ``cpmap ledger verify`` (every
    signature, every checkpoint, the witness and the tables derived from the log)."""
    procs = [_spawn(any_ws, f"c{i}", 3, 40) for i in range(3)]
    for p in procs:
        _out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if not any_ws.store.is_sqlite:
        env["CPMAP_DATABASE_URL"] = any_ws.store.url
    r = subprocess.run([sys.executable, "-m", "cpmap", "ledger", "verify", "--all-signatures",
                        "-f", "json", "-w", str(any_ws.root)], env=env, capture_output=True,
                       text=True, timeout=240, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] and report["size"] == 360 and report["witness_size"] == 360, report
    assert report["derived_rows_checked"]["ledger_subjects"] == 360


def test_a_failing_batch_write_is_one_store_error_and_commits_nothing(any_ws: Any) -> None:
    """A row the batch cannot write (here a squatter at its next index: the database refuses
    the COPY / INSERT) is one StoreError, and nothing of the batch is committed."""
    from sqlalchemy import insert

    from cpmap.errors import StoreError

    ledger = Ledger(any_ws)
    append_batch(ledger, _envelopes(any_ws, "a", 3))
    with any_ws.store.write() as conn:
        conn.execute(insert(ledger_entries).values(
            idx=3, leaf_hash=b"\0" * 32, envelope=b"{}", control="CP1", kind="x", verdict="pass",
            created_at="now"))
    with pytest.raises(StoreError, match="write failed"):
        append_batch(ledger, _envelopes(any_ws, "b", 4))
    with any_ws.store.write() as conn:
        conn.execute(ledger_entries.delete().where(ledger_entries.c.idx == 3))
    assert sorted(ledger.checkpoints()) == [3] and ledger.size() == 3
    assert [e.index for e in append_batch(ledger, _envelopes(any_ws, "c", 2))] == [3, 4]
    assert verify_ledger(ledger).size == 5
