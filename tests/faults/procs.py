"""Private services and gateway replicas for the fault campaign, all on 127.0.0.1.

Each test starts its OWN redis-server or PostgreSQL cluster on a free port in a temporary
directory and stops only that (the machine's shared services are never touched), and its
gateway replicas as real ``cpmap serve`` processes. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Any

import httpx

INFER = "/v2/models/digits/infer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class RedisServer:
    """A private redis-server (no persistence) that a test may stop and start again."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed")
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir",
                                      str(self.root)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


def _pg_bin(name: str) -> str:
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return found[-1]


class PgServer:
    """A private PostgreSQL cluster (initdb in a temporary directory, trust on 127.0.0.1).

    PostgreSQL refuses to run as root, so when the tests run as root the cluster belongs to
    the ``postgres`` system user; its directory is removed by :meth:`remove`.
    """

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cpmap-pg-"))
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(_pg_bin("initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self._as, *cmd], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=120)

    def start(self) -> None:
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
                "-c max_connections=60 -c shared_buffers=16MB")
        self._run(_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-o", opts, "-l",
                  str(self.dir / "log"), "-w", "-t", "60", "start")

    def crash(self) -> None:
        """Stop like a power cut (``immediate``: no checkpoint; the next start recovers)."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w",
                  "stop")

    def remove(self) -> None:
        try:
            self._run(_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                      "-w", "stop")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Replica:
    """One ``cpmap serve`` process."""

    root: Path
    env: dict[str, str]
    ref: str = "digits@1"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> Replica:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **self.env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cpmap", "serve", self.ref, "--port", str(self.port),
             "-w", str(self.root)], env=env, stdout=self._log(), stderr=subprocess.STDOUT,
            text=True)  # a file, not a pipe: an undrained pipe would block the server
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica exited {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/v2/health/ready", timeout=1).json().get("ready"):
                    return self
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        self.stop(signal.SIGKILL)
        raise TimeoutError(f"replica on port {self.port} not ready after {timeout} s")

    def _log(self) -> Any:
        return (self.root.parent / f"replica-{self.port}.log").open("a")

    def output(self) -> str:
        path = self.root.parent / f"replica-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> str:
        """Stop it (SIGTERM: graceful, the prediction log flushed); what it printed."""
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
        return self.output()


@dataclass
class Load:
    """What a fixed-concurrency load run saw."""

    codes: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)

    def count(self, code: int) -> int:
        return sum(1 for c in self.codes if c == code)

    def p99_ms(self) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0


async def _load(urls: Sequence[str], headers: dict[str, str], body: dict[str, Any],
                concurrency: int, seconds: float | None, total: int | None,
                out: Load) -> None:
    deadline = time.monotonic() + (seconds or 1e9)
    sent = 0

    async def worker(i: int, client: httpx.AsyncClient) -> None:
        nonlocal sent
        while time.monotonic() < deadline and (total is None or sent < total):
            sent += 1
            url = urls[(i + sent) % len(urls)] + INFER
            start = time.perf_counter()
            try:
                r = await client.post(url, json=body, headers=headers)
                code, text = r.status_code, r.text if r.status_code >= 500 else ""
            except httpx.HTTPError as e:
                code, text = 0, type(e).__name__
            out.latencies.append(time.perf_counter() - start)
            out.codes.append(code)
            if text:
                out.bodies.append(text)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=15, limits=limits) as client:
        await asyncio.gather(*(worker(i, client) for i in range(concurrency)))


def load(urls: Sequence[str], key: str, body: dict[str, Any], concurrency: int = 8,
         seconds: float | None = None, total: int | None = None) -> Load:
    """Requests at fixed concurrency, round-robin over ``urls``, for ``seconds`` or until
    ``total`` have been sent (connection errors are recorded as status 0)."""
    out = Load()
    asyncio.run(_load(urls, {"X-API-Key": key}, body, concurrency, seconds, total, out))
    return out


def logged(ws: Any) -> tuple[int, list[int]]:
    """(entries in the prediction log, its batches' ledger indexes), after checking that no
    batch is half-written: each stored batch has its ledger entry and hashes to its root."""
    from sqlalchemy import func, select

    from cpmap.core.ledger import Ledger
    from cpmap.gateway.predlog import verify_batch
    from cpmap.gateway.tables import gateway_predictions

    batches = [e.index for e in Ledger(ws).entries(kind="gateway-predictions")]
    with ws.store.read() as conn:
        n = conn.execute(select(func.count()).select_from(gateway_predictions)).scalar_one()
        stored = {int(b) for (b,) in conn.execute(select(gateway_predictions.c.batch)
                                                  .distinct())}
    assert stored == set(batches), "a prediction-log batch without its ledger entry"
    assert all(verify_batch(ws, b) for b in batches), "a batch that misses its signed root"
    return int(n), batches
