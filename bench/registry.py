"""CP6 registry and gate: registering a version and reading it back, against MLflow's model
registry (mlflow-skinny, SQLite tracking store, local artifacts) on the same files in the same
run; and the gate's latency as the ledger grows.

cpmap does more per version than MLflow (content addressing with a hash of every byte, a signed
manifest verified on every read, a signed ledger entry in the same transaction); the point is
to show what that costs.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import write_page

N = int(os.environ.get("CPMAP_BENCH_REGISTRY", "30"))
SIZE = 1 << 20  # 1 MiB per model file
LEDGER_SIZES = (1000, 5000)


def _files(root: Path) -> list[Path]:
    out = []
    for i in range(N):
        p = root / f"model-{i}.safetensors"
        p.write_bytes(os.urandom(SIZE))
        out.append(p)
    return out


def _cpmap(root: Path, files: list[Path]) -> tuple[float, float]:
    from cpmap.core.workspace import init
    from cpmap.registry.versions import get, register

    ws = init(root / "cpmap", "bench")
    start = time.perf_counter()
    for f in files:
        register(ws, "m", f)
    reg = (time.perf_counter() - start) / len(files)
    start = time.perf_counter()
    for i in range(1, len(files) + 1):
        get(ws, f"m@{i}")  # verifies the signed manifest
    read = (time.perf_counter() - start) / len(files)
    ws.close()
    return reg, read


def _mlflow(root: Path, files: list[Path]) -> tuple[float, float]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("bench", artifact_location=(root / "mlruns").as_uri())
    client.create_registered_model("m")
    start = time.perf_counter()
    for f in files:
        run = client.create_run(exp)
        client.log_artifact(run.info.run_id, str(f), "model")
        client.set_terminated(run.info.run_id)
        client.create_model_version("m", f"runs:/{run.info.run_id}/model", run.info.run_id)
    reg = (time.perf_counter() - start) / len(files)
    start = time.perf_counter()
    for i in range(1, len(files) + 1):
        client.get_model_version("m", str(i))
    read = (time.perf_counter() - start) / len(files)
    return reg, read


def _gate_latency(root: Path, size: int) -> float:
    import hashlib

    from cpmap.core.evidence import Evidence, Subject, Verdict, seal
    from cpmap.core.ledger import Ledger
    from cpmap.core.workspace import init
    from cpmap.gate.evaluate import gate
    from cpmap.registry.versions import register

    ws = init(root / f"gate-{size}", "bench")
    ledger = Ledger(ws)
    with ws.store.write() as conn:
        for i in range(size):
            d = hashlib.sha256(str(i).encode()).hexdigest()
            ledger.append_in(conn, seal(Evidence("CP3", "bench", [Subject(str(i), d)],
                                                 Verdict.PASS), ws))
    model = root / f"gate-{size}.bin"
    model.write_bytes(os.urandom(1024))
    register(ws, "m", model)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        gate(ws, "m@1")
        times.append(time.perf_counter() - start)
    ws.close()
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cpmap-bench-registry-") as tmp:
        root = Path(tmp)
        files = _files(root)
        c_reg, c_read = _cpmap(root, files)
        m_reg, m_read = _mlflow(root, files)
        gates = {n: _gate_latency(root, n) for n in LEDGER_SIZES}
    rows = "\n".join(
        f"| {name} | {reg * 1000:.1f} ms | {read * 1000:.2f} ms |"
        for name, reg, read in (("cpmap registry", c_reg, c_read),
                                ("MLflow model registry (mlflow-skinny, SQLite)", m_reg,
                                 m_read)))
    grows = "\n".join(f"| {n:,} | {t * 1000:.0f} ms |" for n, t in gates.items())
    body = f"""
{N} versions of a {SIZE >> 20} MiB model file, registered one after the other (the same files
for both), then each read back (cpmap verifies the signed manifest on every read).

| registry | register, per version | read one version |
|---|---|---|
{rows}

cpmap's registration hashes and copies every byte into the content-addressed store, signs the
manifest and appends a signed ledger entry in the same transaction; MLflow copies the file into
the run's artifacts and writes rows.

Gate latency for one version (all ten controls, every piece of evidence verified with an
inclusion proof against the signed checkpoint), by ledger size (median of 5):

| ledger entries | `cpmap gate` (library call) |
|---|---|
{grows}
"""
    write_page("cp6", "CP6 benchmarks: registry and gate", body, "registry")


if __name__ == "__main__":
    main()
