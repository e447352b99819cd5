"""Fuzzing an HTTP endpoint: raw requests, so malformed input actually reaches the server.

The model layer's :class:`~cpmap.models.remote.RemoteModel` validates a batch before sending
it, which is right for attacks but would hide exactly what fuzzing is after. Here arrays go out
as ``{"inputs": ...}`` JSON (NaN and inf as the non-standard tokens many encoders emit) and
image bytes as a raw ``image/png`` body. A 4xx is a refusal, a 5xx or a traceback in the body
is a finding, and a 200 must carry valid probabilities (or labels).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import numpy as np

from cpmap.redteam.fuzz_inputs import Case
from cpmap.redteam.fuzzing import Caller, Outcome, check_probabilities

_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|"
                        r"\bat [\w.$]+\([\w]+\.java:\d+\)")


def _body(case: Case) -> tuple[bytes, str]:
    value = case.value
    if isinstance(value, bytes | bytearray):
        return bytes(value), "image/png"
    if isinstance(value, np.ndarray):
        payload = value.tolist() if value.dtype != object else [str(v) for v in value.ravel()]
    else:
        payload = value
    text = json.dumps({"inputs": payload}, default=str)  # NaN/Infinity tokens kept on purpose
    return text.encode(), "application/json"


def _answer(body: Any, n_classes: int) -> Any:
    if isinstance(body, dict) and "probabilities" in body:
        return body["probabilities"]
    if isinstance(body, dict) and "predictions" in body:
        labels = np.asarray(body["predictions"], dtype=np.int64).reshape(-1)
        return np.eye(n_classes)[np.clip(labels, 0, n_classes - 1)]
    return body


def http_caller(url: str, n_classes: int, api_key_env: str, timeout_s: float = 5.0,
                client: Any = None) -> Caller:
    """A fuzzing :data:`Caller` that POSTs each case to ``url``."""
    import httpx

    headers = {"Accept": "application/json"}
    key = os.environ.get(api_key_env, "")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    http = client or httpx.Client(timeout=timeout_s)

    def call(case: Case) -> Outcome:
        data, ctype = _body(case)
        try:
            resp = http.post(url, content=data, headers={**headers, "Content-Type": ctype},
                             timeout=timeout_s)
        except httpx.TimeoutException:
            return Outcome("hang", f"no response within {timeout_s:g}s")
        except httpx.HTTPError as e:
            return Outcome("crash", f"connection failed: {type(e).__name__}")
        text = resp.text[:20000]
        if _TRACEBACK.search(text):
            return Outcome("traceback", f"HTTP {resp.status_code} body contains a traceback")
        if resp.status_code >= 500:
            return Outcome("http-5xx", f"HTTP {resp.status_code}")
        if resp.status_code >= 400:
            return Outcome("rejected", f"HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError:
            return Outcome("invalid-output", "HTTP 200 with a body that is not JSON")
        return check_probabilities(_answer(body, n_classes), case, n_classes)

    return call
