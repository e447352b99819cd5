"""The peers of the CP7 gateway benchmark, in a virtual environment of their own.

A virtual environment under the temporary folder (``/tmp/cpmap-bench-gateway-peers``, or
``CPMAP_BENCH_GATEWAY_PEERS_VENV``; built from scratch by :func:`ensure_venv` when it is
missing or broken, reused when its imports work) holds what users run today
and what cpmap must not depend on: FastAPI + slowapi + pydantic (a hand-made secured stack:
an API key checked in constant time, a slowapi rate limit, a pydantic body) and MLServer (an
Open Inference Protocol v2 server, no authentication). Both serve the same digits MLP as the
main benchmark, read from the same safetensors file and computed with numpy (the peer
environment has no torch; the forward pass is two matrix products, cheaper than cpmap's torch
call, so the comparison does not favour cpmap).

``python -m bench.gateway_peers serve slowapi|mlserver MODEL PORT KEY`` runs one server (with
the peer environment's python).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
VENV = Path(os.environ.get("CPMAP_BENCH_GATEWAY_PEERS_VENV")
            or Path(tempfile.gettempdir()) / "cpmap-bench-gateway-peers")
PACKAGES = ("slowapi>=0.1.9", "fastapi", "uvicorn", "mlserver>=1.6", "numpy", "safetensors")


def python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> Path | None:
    """The peers' python, or None when the packages cannot be installed (offline). A venv
    whose imports fail is removed and built again from nothing (never patched in place)."""
    if python().exists() and _works():
        return python()
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)  # noqa: S603
    done = subprocess.run([str(python()), "-m", "pip", "install", "-q",  # noqa: S603
                           "--disable-pip-version-check", *PACKAGES], capture_output=True,
                          timeout=1800)
    return python() if done.returncode == 0 and _works() else None


def _works() -> bool:
    check = subprocess.run([str(python()), "-c", "import slowapi, mlserver, fastapi"],  # noqa: S603
                           capture_output=True)
    return check.returncode == 0


def _forward(model_path: str) -> Any:
    """The MLP's probabilities with numpy from the safetensors weights (Linear, ReLU, ...)."""
    import numpy as np
    from safetensors.numpy import load_file

    state = load_file(model_path)
    layers = sorted({k.rsplit(".", 1)[0] for k in state}, key=lambda k: int(k.split(".")[-1]))
    weights = [(state[f"{k}.weight"].T.astype(np.float32), state[f"{k}.bias"]) for k in layers]

    def predict(x: Any) -> Any:
        for i, (w, b) in enumerate(weights):
            x = x @ w + b
            if i < len(weights) - 1:
                x = np.maximum(x, 0)
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return predict


def slowapi_app(model_path: str, key: str) -> Any:
    """FastAPI + slowapi + pydantic: an API key, a rate limit, a typed body."""
    import hmac

    import numpy as np
    from fastapi import FastAPI, HTTPException, Request
    from pydantic import BaseModel
    from slowapi import Limiter, _rate_limit_exceeded_handler
    from slowapi.errors import RateLimitExceeded

    predict = _forward(model_path)
    def client(request: Request) -> str:  # slowapi passes the request to a "request" param
        return str(request.headers.get("x-api-key", ""))

    limiter = Limiter(key_func=client)
    app = FastAPI()
    app.state.limiter = limiter
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]

    class Tensor(BaseModel):
        name: str
        shape: list[int]
        datatype: str
        data: list[float]

    class InferRequest(BaseModel):
        id: str | None = None
        inputs: list[Tensor]

    async def infer(request: Request, req: InferRequest) -> dict[str, Any]:
        if not hmac.compare_digest(request.headers.get("x-api-key", ""), key):
            raise HTTPException(401, "invalid API key")
        t = req.inputs[0]
        probs = predict(np.asarray(t.data, dtype=np.float32).reshape(t.shape))
        return {"model_name": "digits", "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": list(probs.shape),
             "data": probs.ravel().tolist()}]}

    # the annotations are strings (PEP 563) naming local classes: give FastAPI the classes,
    # on the function itself (slowapi's wrapper points FastAPI back to it)
    infer.__annotations__ = {"request": Request, "req": InferRequest, "return": dict[str, Any]}
    app.post("/v2/models/digits/infer")(limiter.limit("100000000/minute")(infer))
    return app


RUNTIME = '''
import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from bench.gateway_peers import _forward


class DigitsRuntime(MLModel):
    async def load(self) -> bool:
        self.predict_fn = _forward(self.settings.parameters.uri)
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32)
        probs = self.predict_fn(x.reshape(len(x), -1))
        return InferenceResponse(model_name=self.name, outputs=[
            NumpyCodec.encode_output("probabilities", probs.astype(np.float32))])
'''


def mlserver_dir(root: Path, model_path: str, port: int, grpc: int, metrics: int) -> Path:
    """An MLServer model repository: settings bound to 127.0.0.1, one in-process worker."""
    folder = root / "mlserver"
    (folder / "digits").mkdir(parents=True, exist_ok=True)
    (folder / "runtime.py").write_text(RUNTIME)
    (folder / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": grpc, "metrics_port": metrics,
        "parallel_workers": 0, "debug": False}))
    (folder / "digits" / "model-settings.json").write_text(json.dumps({
        "name": "digits", "implementation": "runtime.DigitsRuntime",
        "parameters": {"uri": model_path}}))
    return folder


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and sys.argv[2] == "slowapi":
        import uvicorn

        # the same server stack as cpmap's rows (asyncio loop, h11): MLServer's uvloop comes
        # with it into this venv, and would otherwise be picked here too
        uvicorn.run(slowapi_app(sys.argv[3], sys.argv[5]), host="127.0.0.1",
                    port=int(sys.argv[4]), log_level="warning", access_log=False,
                    loop="asyncio", http="h11")
