"""CP1 ledger: appends per second (SQLite, PostgreSQL), verify time at 100,000 entries, proofs.

There is no peer with the same guarantees to run here (Trillian and Rekor are services in Go);
the figures are absolute, on this machine, for capacity planning.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import write_page
from cpmap.core.evidence import Evidence, Subject, Verdict, record, seal
from cpmap.core.ledger import Ledger, verify_ledger
from cpmap.core.workspace import Workspace, init

N_VERIFY = int(os.environ.get("CPMAP_BENCH_LEDGER", "100000"))
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


def main() -> None:
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
