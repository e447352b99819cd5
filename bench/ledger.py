"""CP1 ledger: appends per second (SQLite, PostgreSQL), verify time at 100,000 entries, proofs;
and entries per second from several writer processes at once, one transaction per entry
(before) against batch appends and group commit (after), on the page cp1-ledger-batch.

``CPMAP_BENCH_LEDGER_PARTS`` (default ``single,verify,writers``) chooses the sections,
``CPMAP_BENCH_LEDGER_BACKENDS`` (default ``PostgreSQL,SQLite``) the stores of the writers
section. The writers section also runs the batch append path of an earlier commit
(``CPMAP_BENCH_LEDGER_BEFORE``, default ``95deee0``: multi-row ``INSERT``, everything under the
lock), read from git into a temporary file, so that before and after are measured in one run.

There is no peer with the same guarantees to run here (Trillian and Rekor are services in Go);
the figures are absolute, on this machine, for capacity planning.
"""

from __future__ import annotations

import functools
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import write_page
from cpmap.core.evidence import Evidence, Subject, Verdict, record, seal
from cpmap.core.ledger import Ledger, verify_ledger
from cpmap.core.workspace import Workspace, init

N_VERIFY = int(os.environ.get("CPMAP_BENCH_LEDGER", "100000"))
PARTS = set(os.environ.get("CPMAP_BENCH_LEDGER_PARTS", "single,verify,writers").split(","))
WRITERS = int(os.environ.get("CPMAP_BENCH_LEDGER_WRITERS", "4"))
PER_WRITER = int(os.environ.get("CPMAP_BENCH_LEDGER_PER_WRITER", "1000"))
BACKENDS = os.environ.get("CPMAP_BENCH_LEDGER_BACKENDS", "PostgreSQL,SQLite").split(",")
BEFORE = os.environ.get("CPMAP_BENCH_LEDGER_BEFORE", "95deee0")
REPS = int(os.environ.get("CPMAP_BENCH_LEDGER_REPS", "3"))
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _evidence(i: int) -> Evidence:
    return Evidence("CP1", "bench", [Subject(f"item-{i}", hashlib.sha256(str(i).encode())
                                             .hexdigest())], Verdict.PASS, metrics={"i": i})


def _appends(ws: Workspace, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        record(_evidence(i), ws)
    return n / (time.perf_counter() - start)


def _bulk(ws: Workspace, n: int, batch: int = 2000) -> None:
    ledger = Ledger(ws)
    for lo in range(0, n, batch):
        with ws.store.write() as conn:
            for i in range(lo, min(n, lo + batch)):
                entry = ledger.append_in(conn, seal(_evidence(i), ws))
        ledger.witness(entry)


def _pg_workspace(root: Path) -> tuple[Workspace, str] | None:
    try:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG.replace("+psycopg", ""), autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{schema}"')
    except Exception:  # noqa: BLE001 - PostgreSQL is optional for the bench
        return None
    os.environ["CPMAP_DATABASE_URL"] = f"{PG}?options=-csearch_path%3D{schema}"
    try:
        return init(root, "bench-pg"), schema
    finally:
        del os.environ["CPMAP_DATABASE_URL"]


def _drop(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG.replace("+psycopg", ""), autocommit=True) as c:
        c.execute(f'DROP SCHEMA "{schema}" CASCADE')


WRITER = """
import hashlib, importlib.util, os, sys, threading, time
from cpmap.core.evidence import Evidence, Subject, Verdict, record, seal
from cpmap.core.ledger import Ledger
from cpmap.core.sequencer import Sequencer, append_batch
from cpmap.core.workspace import open_workspace
ws = open_workspace(sys.argv[1])
mode, tag, n, at = sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
def ev(i):
    return Evidence("CP1", "bench", [Subject(f"{tag}-{i}", hashlib.sha256(f"{tag}-{i}".encode())
                    .hexdigest())], Verdict.PASS, metrics={"i": i})
ledger = Ledger(ws)
ledger.size()  # connect before the start line
sealed = [seal(ev(i), ws) for i in range(n)] if mode.startswith("presealed") else []
if mode in ("before", "presealed-before"):
    spec = importlib.util.spec_from_file_location("seq_before", os.environ["SEQ_BEFORE"])
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
time.sleep(max(0.0, at - time.time()))
start = time.time()
if mode == "single":
    for i in range(n):
        record(ev(i), ws)
elif mode == "batch":
    for lo in range(0, n, 100):
        append_batch(ledger, [seal(ev(i), ws) for i in range(lo, min(n, lo + 100))])
elif mode == "before":  # the earlier commit's append_batch, same workload as "batch"
    for lo in range(0, n, 100):
        old.append_batch(ledger, [seal(ev(i), ws) for i in range(lo, min(n, lo + 100))])
elif mode == "presealed":  # the append path alone: envelopes signed before the start
    for lo in range(0, n, 100):
        append_batch(ledger, sealed[lo:lo + 100])
elif mode == "presealed-before":
    for lo in range(0, n, 100):
        old.append_batch(ledger, sealed[lo:lo + 100])
else:  # group commit: 8 threads, each appending one entry at a time
    seq = Sequencer(ledger)
    def work(t):
        for i in range(t, n, 8):
            seq.append(seal(ev(i), ws))
    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads: th.start()
    for th in threads: th.join()
print(start, time.time(), flush=True)
"""


def _before_source(tmp: Path) -> Path | None:
    """The earlier commit's ``cpmap/core/sequencer.py`` in a file, or None without git."""
    try:
        text = subprocess.run(["git", "show", f"{BEFORE}:src/cpmap/core/sequencer.py"],
                              cwd=Path(__file__).parent, capture_output=True, check=True,
                              text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = tmp / "sequencer_before.py"
    path.write_text(text)
    return path


def _writers(ws: Workspace, mode: str, writers: int, per_writer: int,
             before: Path | None = None) -> tuple[float, int]:
    """Entries/s of ``writers`` processes appending ``per_writer`` entries each at once,
    from the first start to the last finish (process start-up excluded); and the size."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if before is not None:
        env["SEQ_BEFORE"] = str(before)
    if not ws.store.is_sqlite:
        env["CPMAP_DATABASE_URL"] = ws.store.url
    before = Ledger(ws).size()
    at = time.time() + 8 + writers  # every process imported and connected by then
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(ws.root), mode,
                               f"{mode}{w}", str(per_writer), str(at)], env=env,
                              stdout=subprocess.PIPE, text=True) for w in range(writers)]
    spans = []
    for p in procs:
        out, _ = p.communicate(timeout=1800)
        if p.returncode != 0:
            raise RuntimeError(f"bench writer ({mode}) failed with exit {p.returncode}")
        spans.append(tuple(map(float, out.split())))
    total = writers * per_writer
    size = Ledger(ws).size()
    if size - before != total:
        raise RuntimeError(f"{mode}: {size - before} entries appended, expected {total}")
    return total / (max(e for _, e in spans) - min(s for s, _ in spans)), size


def _cell(got: dict[str, list[float]], m: str, against: str | None = None) -> str:
    """``median [min-max]`` of one mode's runs, and its ratio to ``against``'s median."""
    med = statistics.median(got[m])
    text = f"{med:,.0f} [{min(got[m]):,.0f}-{max(got[m]):,.0f}]"
    if against in got:
        text += f" (**{med / statistics.median(got[against]):.2f}x** the {BEFORE} path)"
    return text


def _writer_rows(tmp: Path) -> list[str]:
    rows = []
    n, w = PER_WRITER, WRITERS
    before = _before_source(tmp)
    for backend in BACKENDS:
        if backend == "SQLite":
            ws: Workspace | None = init(tmp / "w-sqlite", "bench-w")
            schema = None
        else:
            pg = _pg_workspace(tmp / "w-pg")
            ws, schema = (pg[0], pg[1]) if pg is not None else (None, None)
        if ws is None:
            continue
        single, _ = _writers(ws, "single", w, max(50, n // 5))
        modes = (["before", "batch", "presealed-before", "presealed"] if before is not None
                 else ["batch", "presealed"])
        got: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(REPS):  # alternated, so that a change of load hits both sides
            for m in modes:
                got[m].append(_writers(ws, m, w, n, before)[0])
        group, size = _writers(ws, "group", w, n)
        start = time.perf_counter()
        report = verify_ledger(Ledger(ws))
        took = time.perf_counter() - start
        med = {m: statistics.median(v) for m, v in got.items()}
        cell = functools.partial(_cell, got)

        rows.append(f"| {backend} | {w} processes, one transaction + checkpoint per entry "
                    f"(before) | {single:,.0f} |")
        if before is not None:
            rows.append(f"| {backend} | {w} processes, `append_batch` of 100 as of {BEFORE} "
                        f"(multi-row INSERT, all under the lock) | {cell('before')} |")
        rows.append(f"| {backend} | {w} processes, `append_batch` of 100 | "
                    f"{cell('batch', 'before')}; {med['batch'] / single:.1f}x one per entry |")
        if before is not None:
            rows.append(f"| {backend} | {w} processes, `append_batch` of 100 envelopes signed "
                        f"beforehand (the append path alone), as of {BEFORE} | "
                        f"{cell('presealed-before')} |")
        rows.append(f"| {backend} | {w} processes, `append_batch` of 100 envelopes signed "
                    f"beforehand (the append path alone) | "
                    f"{cell('presealed', 'presealed-before')} |")
        rows.append(f"| {backend} | {w} processes x 8 threads, `Sequencer` group commit of "
                    f"single appends | {group:,.0f} (**{group / single:.1f}x**) |")
        rows.append(f"| {backend} | `ledger verify` afterwards: {report.size:,} entries, "
                    f"{report.checkpoints:,} checkpoints | passed in {took:.1f} s (size {size:,})"
                    " |")
        ws.close()
        if schema is not None:
            _drop(schema)
    return rows


def main() -> None:
    if "single" in PARTS or "verify" in PARTS:
        _main_single()
    if "writers" in PARTS:
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp:
            rows = _writer_rows(Path(tmp))
        load = max(load, os.getloadavg()[0])
        body = (f"Load average during the run: up to {load:.1f} on this machine. "
                "Entries per second from the first writer's start to the last writer's end, "
                "signing (DSSE, Ed25519) included; each process appends its share as fast as "
                "it can, all at once. Before: `record()`, one store transaction with the "
                "write lock and one signed checkpoint per entry; and the batch path as of "
                f"{BEFORE} (one multi-row INSERT per table, serialization and hashing under "
                "the lock), run from git in the same run. After: one transaction and one "
                "checkpoint per batch, envelopes serialized and hashed before the lock, rows "
                "written with one PostgreSQL COPY per table (`cpmap.core.sequencer`). Batch "
                f"rows: median [min-max] of {REPS} runs, the modes alternated.\n\n"
                "| store | writers | entries/s |\n|---|---|---|\n" + "\n".join(rows))
        write_page("cp1-ledger-batch", "CP1 ledger: batch appends from concurrent writers",
                   body, "ledger")


def _main_single() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = init(Path(tmp) / "sqlite", "bench")
        rate = _appends(ws, 500)
        rows.append(f"| appends/s, SQLite (one transaction + fsync each) | {rate:.0f} |")
        pg = _pg_workspace(Path(tmp) / "pg")
        if pg is not None:
            rows.append(f"| appends/s, PostgreSQL (one transaction each) | "
                        f"{_appends(pg[0], 500):.0f} |")
            pg[0].close()
            _drop(pg[1])
        big = init(Path(tmp) / "big", "bench-big")
        start = time.perf_counter()
        _bulk(big, N_VERIFY)
        rows.append(f"| bulk load of {N_VERIFY:,} entries (2,000 per transaction) | "
                    f"{time.perf_counter() - start:.1f} s |")
        ledger = Ledger(big)
        start = time.perf_counter()
        report = verify_ledger(ledger)
        rows.append(f"| verify {report.size:,} entries + {report.checkpoints:,} checkpoints | "
                    f"{time.perf_counter() - start:.1f} s |")
        times = []
        for idx in (0, N_VERIFY // 2, N_VERIFY - 1):
            start = time.perf_counter()
            ledger.inclusion_proof(idx)
            times.append(time.perf_counter() - start)
        rows.append(f"| inclusion proof at {N_VERIFY:,} entries (load leaves + build) | "
                    f"{statistics.median(times) * 1000:.0f} ms |")
    body = ("| measure | result |\n|---|---|\n" + "\n".join(rows) + "\n\nVerification checks "
            "every envelope signature, every leaf hash and the recomputed root against the "
            "signed checkpoint at every tree size.")
    write_page("cp1-ledger", "CP1 ledger throughput", body, "ledger")


if __name__ == "__main__":
    main()
