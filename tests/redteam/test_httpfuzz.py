"""Endpoint fuzzing over raw HTTP: 5xx, tracebacks, refusals and valid answers."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from cpmap.redteam.fuzzing import fuzz
from cpmap.redteam.httpfuzz import http_caller


def _client(handler: object) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def _sloppy(request: httpx.Request) -> httpx.Response:
    """Parses JSON leniently and answers a 500 with a traceback on anything odd."""
    try:
        rows = np.asarray(json.loads(request.content)["inputs"], dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != 64 or not np.isfinite(rows).all():
            raise ValueError("bad rows")
    except Exception:  # noqa: BLE001 - the point: a careless server
        return httpx.Response(500, text='Traceback (most recent call last):\n  File "app.py", '
                              'line 3, in predict\nValueError: bad rows')
    return httpx.Response(200, json={"probabilities": np.full((len(rows), 10), 0.1).tolist()})


def _strict(request: httpx.Request) -> httpx.Response:
    assert request.headers["authorization"] == "Bearer s3cret"
    try:
        rows = np.asarray(json.loads(request.content)["inputs"], dtype=np.float64)
    except (ValueError, KeyError, TypeError):
        return httpx.Response(422, json={"error": "invalid request"})
    if rows.ndim != 2 or rows.shape[1] != 64 or not np.isfinite(rows).all() or \
            (rows < 0).any() or (rows > 1).any():
        return httpx.Response(422, json={"error": "invalid input"})
    return httpx.Response(200, json={"predictions": [0] * len(rows)})


def test_sloppy_endpoint_leaks_tracebacks() -> None:
    caller = http_caller("http://model/predict", 10, "NO_SUCH_KEY", client=_client(_sloppy))
    report = fuzz(caller, (64,), (0.0, 1.0), ["nan", "image_bytes", "empty"], 5, 0)
    kinds = {r.probe: r.outcome.kind for r in report.results}
    assert kinds["nan"] == "traceback" and kinds["image_bytes"] == "traceback"


def test_strict_endpoint_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_KEY", "s3cret")
    caller = http_caller("http://model/predict", 10, "MODEL_KEY", client=_client(_strict))
    report = fuzz(caller, (64,), (0.0, 1.0), ["nan", "out_of_range", "wrong_shape",
                                              "image_bytes", "empty"], 5, 0)
    assert report.failures() == [], [r.to_dict() for r in report.failures()]


def test_server_error_without_traceback_is_a_5xx() -> None:
    caller = http_caller("http://m/p", 10, "X",
                         client=_client(lambda r: httpx.Response(503, text="busy")))
    report = fuzz(caller, (64,), (0.0, 1.0), ["nan"], 3, 0)
    assert report.results[0].outcome.kind == "http-5xx"


def test_a_traceback_is_at_least_as_severe_as_a_plain_500() -> None:
    """A 500 that leaks a traceback once scored medium (exit 0) and a plain 500 high (exit 1):
    a worse endpoint must never score better."""
    from cpmap.redteam.fuzzing import RULE_FOR
    from cpmap.redteam.rules import RULES

    leak = RULES[RULE_FOR["traceback"]].severity
    plain = RULES[RULE_FOR["http-5xx"]].severity
    assert leak.rank >= plain.rank
