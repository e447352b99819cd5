"""CP7 gateway throughput and latency against a bare Starlette app, same model, same run.

Both serve the same tiny digits MLP (safetensors, loaded through cpmap's safe loader) on uvicorn
(one worker process each, started one after the other) and are loaded by ``wrk`` from
127.0.0.1 with the same Open Inference Protocol v2 body (one row of 64 features), for a
bounded time. The cpmap gateway runs its full stack: API key (keyed hash, constant-time
compare), global + client rate limit and query budget (``limits``, in memory; also with
Redis), strict validation, output policy, metrics, prediction-log batching into the ledger.
The bare app parses the JSON and calls the model, nothing else. Also a FastAPI + pydantic app
(what users write today, without any limits), and, from their own virtual environment
(``bench/gateway_peers.py``), FastAPI + slowapi + pydantic with an API key and MLServer. The
load generator falls back to an asyncio httpx client when wrk is missing.

``python -m bench gateway``; CPMAP_BENCH_GATEWAY_SECONDS (default 5) per run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SECONDS = int(os.environ.get("CPMAP_BENCH_GATEWAY_SECONDS", "5"))
CPMAP_PEERS = os.environ.get("CPMAP_BENCH_GATEWAY_PEERS", "1") != "0"  # slowapi, MLServer
CONNECTIONS = 16
ROUNDS = int(os.environ.get("CPMAP_BENCH_GATEWAY_ROUNDS", "3"))  # median of interleaved runs
BODY = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64],
                    "data": [0.25] * 64}]}


# -- the servers (each run as `python -m bench.gateway serve KIND ARGS`) --------------------------

def _bare_app(model_path: str, numpy_forward: bool = False) -> Any:
    import numpy as np
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from cpmap.models.persist import load_file

    if numpy_forward:  # the peers' forward pass: their rows compare with this one
        from bench.gateway_peers import _forward

        predict = _forward(model_path)
    else:
        predict = load_file(Path(model_path)).predict_proba

    async def infer(request: Request) -> JSONResponse:
        body = await request.json()
        t = body["inputs"][0]
        x = np.asarray(t["data"], dtype=np.float32).reshape(t["shape"])
        probs = predict(x)
        return JSONResponse({"model_name": "digits", "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": list(probs.shape),
             "data": probs.ravel().tolist()}]})

    return Starlette(routes=[Route("/v2/models/digits/infer", infer, methods=["POST"])])


def _fastapi_app(model_path: str) -> Any:
    import numpy as np
    from fastapi import FastAPI
    from pydantic import BaseModel

    from cpmap.models.persist import load_file

    model = load_file(Path(model_path))

    class Tensor(BaseModel):
        name: str
        shape: list[int]
        datatype: str
        data: list[float]

    class InferRequest(BaseModel):
        id: str | None = None
        inputs: list[Tensor]

    app = FastAPI()

    async def infer(req: InferRequest) -> dict[str, Any]:
        t = req.inputs[0]
        probs = model.predict_proba(np.asarray(t.data, dtype=np.float32).reshape(t.shape))
        return {"model_name": "digits", "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": list(probs.shape),
             "data": probs.ravel().tolist()}]}

    # the annotations are strings (PEP 563) naming local classes: give FastAPI the classes
    infer.__annotations__ = {"req": InferRequest, "return": dict[str, Any]}
    app.post("/v2/models/digits/infer")(infer)
    return app


def _cpmap_app(workspace: str) -> Any:
    from cpmap.core.workspace import open_workspace
    from cpmap.gateway import build
    from cpmap.gateway.config import load

    ws = open_workspace(workspace)
    cfg = load(ws, global_rate="10000000/second", predlog_batch=1000)
    return build(ws, "digits@1", cfg, allow_ungated=True, record_evidence=False)


def serve(kind: str, arg: str, port: int) -> None:
    import torch

    from cpmap.gateway.server import serve_forever

    torch.set_num_threads(1)
    app = {"bare": _bare_app, "fastapi": _fastapi_app, "cpmap": _cpmap_app,
           "bare-numpy": lambda a: _bare_app(a, numpy_forward=True)}[kind](arg)
    serve_forever(app, "127.0.0.1", port)


# -- setup and load -------------------------------------------------------------------------------

def _setup(root: Path) -> tuple[Path, Path, str]:
    """A trained tiny model file, a workspace with it registered, and a client key."""
    import torch

    from cpmap.builtin import digits
    from cpmap.core.workspace import init
    from cpmap.gateway.keys import create
    from cpmap.models.datasets import Dataset
    from cpmap.models.persist import save_file
    from cpmap.registry.versions import register
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.training import train

    torch.set_num_threads(1)
    x, y = digits()
    ds = Dataset("digits", "0" * 64, x[:600], y[:600], tuple(str(i) for i in range(10)),
                 image_shape=(1, 8, 8))
    model = train(ds, TrainConfig(arch="mlp", hidden=(32,), epochs=2, lr=5e-3)).model
    path = root / "digits.safetensors"
    save_file(model, path)
    ws = init(root / "proj", "bench")
    register(ws, "digits", path)
    key = create(ws, "bench", ["infer:digits"], "100000000/minute", "100000000/day",
                 "full")[0]
    ws.close()
    return path, ws.root, key


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _command(kind: str, arg: str, port: int, key: str, root: Path) -> list[str]:
    """How to start one server: ours with this python, the peers with theirs."""
    from bench import gateway_peers as peers

    if kind == "slowapi":
        return [str(peers.python()), "-m", "bench.gateway_peers", "serve", "slowapi", arg,
                str(port), key]
    if kind == "mlserver":
        folder = peers.mlserver_dir(root, arg, port, _port(), _port())
        return [str(peers.VENV / "bin" / "mlserver"), "start", str(folder)]
    return [sys.executable, "-m", "bench.gateway", "serve", kind, arg, str(port)]


def _start(kind: str, arg: str, env: dict[str, str], key: str = "",
           root: Path = Path(".")) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    here = str(Path(__file__).parents[1])
    proc = subprocess.Popen(_command(kind, arg, port, key, root),
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                [here, str(root / "mlserver"), os.environ.get("PYTHONPATH", "")]),
                                 **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.post(url + "/v2/models/digits/infer", json=BODY, timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


LUA = """wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{key}"
"""


def _wrk(url: str, key: str, script: Path) -> dict[str, float]:
    script.write_text(LUA.replace("{body}", json.dumps(BODY)).replace("{key}", key))
    target = url + "/v2/models/digits/infer"
    subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", "-d1s", "-s", str(script), target],
                   check=True, capture_output=True)  # warm-up
    out = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency",
                          "-s", str(script), target], check=True, capture_output=True,
                         text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
           for p in ("50", "99")}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"],
            "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
            "requests": float(total.group(1)) if total else 0.0}


def _ms(text: str) -> float:
    value = float(re.match(r"[\d.]+", text).group(0))  # type: ignore[union-attr]
    unit = text[len(re.match(r"[\d.]+", text).group(0)):]  # type: ignore[union-attr]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _asyncio_load(url: str, key: str) -> dict[str, float]:
    """Fallback load: CONNECTIONS asyncio httpx clients for SECONDS."""
    import asyncio

    import httpx

    async def worker(client: httpx.AsyncClient, stop: float, lat: list[float]) -> int:
        bad = 0
        while time.monotonic() < stop:
            t = time.perf_counter()
            r = await client.post(url + "/v2/models/digits/infer", json=BODY,
                                  headers={"X-API-Key": key})
            lat.append(time.perf_counter() - t)
            bad += r.status_code != 200
        return bad

    async def run() -> dict[str, float]:
        lat: list[float] = []
        async with httpx.AsyncClient(timeout=10) as c:
            stop = time.monotonic() + SECONDS
            bad = sum(await asyncio.gather(*(worker(c, stop, lat)
                                             for _ in range(CONNECTIONS))))
        lat.sort()
        return {"rps": len(lat) / SECONDS, "p50": lat[len(lat) // 2] * 1000,
                "p99": lat[int(len(lat) * 0.99)] * 1000, "non2xx": float(bad),
                "requests": float(len(lat))}

    return asyncio.run(run())


def _measure(kind: str, arg: str, key: str, root: Path, env: dict[str, str]) -> dict[str, float]:
    proc, url = _start(kind, arg, env, key, root)
    try:
        if shutil.which("wrk"):
            return _wrk(url, key, root / f"{kind}.lua")
        return _asyncio_load(url, key)
    finally:
        proc.terminate()
        proc.wait(20)


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median requests/s (its latencies), with the counts of all runs."""
    mid = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    return {**mid, "requests": sum(r["requests"] for r in runs),
            "non2xx": sum(r["non2xx"] for r in runs),
            "low": min(r["rps"] for r in runs), "high": max(r["rps"] for r in runs)}


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), 1).close()
        return True
    except OSError:
        return False


def main() -> None:
    from bench.common import write_page

    with tempfile.TemporaryDirectory(prefix="cpmap-bench-gateway-") as tmp:
        root = Path(tmp)
        model, ws, key = _setup(root)
        runs = [("bare Starlette on uvicorn (no security)", "bare", str(model), {}),
                ("FastAPI + pydantic (no limits, no auth)", "fastapi", str(model), {}),
                ("cpmap gateway, limits in memory", "cpmap", str(ws), {})]
        if _redis_up():
            runs.append(("cpmap gateway, limits in Redis", "cpmap", str(ws),
                         {"CPMAP_REDIS_URL": "redis://127.0.0.1:6379/0"}))
        # the gateway's own costs: CP8's hooks and its monitored-log rows (written with each
        # prediction-log batch) switched off
        runs.append(("cpmap gateway, limits in memory, CP8 monitoring off", "cpmap", str(ws),
                     {"CPMAP_MONITORING_ENABLED": "off"}))
        if CPMAP_PEERS:
            from bench import gateway_peers

            if gateway_peers.ensure_venv() is not None:
                runs += [("bare Starlette, the peers' numpy forward pass (no security)",
                          "bare-numpy", str(model), {}),
                         ("FastAPI + slowapi + pydantic (API key, rate limit)", "slowapi",
                          str(model), {}),
                         ("MLServer (OIP v2, no auth, no limits)", "mlserver", str(model), {})]
        rounds: list[list[dict[str, float]]] = [[] for _ in runs]
        for _ in range(ROUNDS):  # interleaved: a load spike on this shared machine hits
            for i, (_label, kind, arg, env) in enumerate(runs):  # every server, not one
                rounds[i].append(_measure(kind, arg, key, root, env))
        results = [(label, _median(r)) for (label, *_), r in zip(runs, rounds, strict=True)]
    base = results[0][1]["rps"]
    rows = "\n".join(f"| {label} | {r['rps']:.0f} ({r['low']:.0f}-{r['high']:.0f}) | "
                     f"{r['rps'] / base:.2f}x | {r['p50']:.2f} ms | {r['p99']:.2f} ms | "
                     f"{r['requests']:.0f} | {r['non2xx']:.0f} |" for label, r in results)
    tool = "wrk 1 thread" if shutil.which("wrk") else "asyncio httpx client"
    body = f"""
The same tiny digits MLP (64 inputs, 10 classes) on uvicorn, one worker process each, loaded
from 127.0.0.1 by {tool}, {CONNECTIONS} connections, {SECONDS} s after a 1 s warm-up; one row
per request. The load generator shares the machine's cores with the server. {ROUNDS} rounds,
every server once a round in turn; each row is the round with the median requests/s (its
latencies; the range over the rounds in brackets), requests and non-2xx summed over rounds.

| server | requests/s (range) | vs bare | p50 | p99 | requests | non-2xx |
|---|---|---|---|---|---|---|
{rows}

The cpmap rows run the whole request path: API key check (HMAC + constant-time compare),
global and client rate limit and the client's query budget (fixed windows), strict OIP v2
validation, model in a worker thread with a timeout, output policy, security headers,
Prometheus metrics and a prediction-log entry (batched into the ledger off the request path,
in a worker thread that shares the interpreter's lock), and CP8's monitor (here without a
baseline: its hooks and the monitored-log rows it writes with each batch); the row with CP8
monitoring off is the gateway's own cost.
The version is served with `allow_ungated` here (the gate runs once at start-up, not per
request). The peers (their own virtual environment, built from nothing under the temporary
folder by `bench/gateway_peers.py`) serve the same weights computed with numpy, two matrix
products, much cheaper than cpmap's torch module call: compare them with the bare Starlette
row that uses the same numpy forward pass, not with the torch rows. FastAPI + slowapi +
pydantic checks an API key in constant time and a slowapi rate limit (in memory) and
validates the body with pydantic, what users write by hand today; it runs on the same server
stack as cpmap (uvicorn, asyncio loop, h11). MLServer serves the Open Inference Protocol v2
with no authentication and no limits, one process (`parallel_workers = 0`), on the server
stack it picks itself (uvicorn with uvloop, installed with it).
"""
    write_page("gateway", "CP7 gateway vs bare Starlette", body, "gateway")


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
