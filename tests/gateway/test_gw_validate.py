"""Strict input validation: every malformed body is a 4xx naming what is wrong; Hypothesis
checks that the parser never raises anything but a refusal, whatever the bytes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpmap.gateway.config import GatewayConfig
from cpmap.gateway.errors import Refusal
from cpmap.gateway.served import InputSpec
from cpmap.gateway.validate import parse_infer

from .conftest import rows

SPEC = InputSpec("input", 4, -0.1, 1.1, (0.0, 1.0), None)
CFG = GatewayConfig(max_batch=3, max_elements=100)
OUTS = frozenset({"probabilities", "label"})


def _body(**tensor: Any) -> bytes:
    t = {"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [0.1] * 4, **tensor}
    return json.dumps({"inputs": [t]}).encode()


def _refused(body: bytes) -> Refusal:
    with pytest.raises(Refusal) as e:
        parse_infer(body, SPEC, CFG, OUTS)
    assert 400 <= e.value.status < 500
    return e.value


def test_valid_flat_and_nested() -> None:
    flat = parse_infer(_body(), SPEC, CFG, OUTS)
    assert flat.x is not None and flat.x.dtype == np.float32 and flat.x.shape == (1, 4)
    nested = parse_infer(_body(shape=[2, 4], data=[[0.0] * 4, [1.0] * 4]), SPEC, CFG, OUTS)
    assert nested.x is not None and nested.x.shape == (2, 4)
    req = parse_infer(b'{"id": "a-1", "inputs": [{"name": "input", "datatype": "FP64", '
                      b'"shape": [1, 4], "data": [0, 1, 0.5, 1.1]}], "outputs": '
                      b'[{"name": "label"}]}', SPEC, CFG, OUTS)
    assert req.id == "a-1"


@pytest.mark.parametrize(("body", "needle"), [
    (b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], '
     b'"data": [NaN, 0, 0, 0]}]}', "not valid JSON"),
    (b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], '
     b'"data": [Infinity, 0, 0, 0]}]}', "not valid JSON"),
    (_body(data=[0.5, 0, 0, 0]).replace(b"0.5", b"1e999"), "NaN and infinite"),
    (_body(data=[True, 0, 0, 0]), "must be a number"),
    (_body(data=["0.5", 0, 0, 0]), "must be a number"),
    (_body(data=[10**400, 0, 0, 0]), "out of range"),
    (_body(data=[5.0, 0, 0, 0]), "must lie in"),
    (_body(data=[0.1] * 3), "3 values"),
    (_body(name="x"), "name"),
    (_body(datatype="INT8"), "datatype"),
    (_body(shape=[1, 5]), "shape"),
    (_body(shape=[1, 4.0]), "shape"),
    (_body(shape=[0, 4], data=[]), "batch size"),
    (_body(extra=1), "unknown field"),
    (b'{"inputs": [], "x": 1}', "unknown field"),
    (b'{"inputs": [], "inputs": []}', "not valid JSON"),
    (b'{"id": "a\\nb", "inputs": []}', "id"),
    (b"[" + b"0," * 200 + b"0]", "elements"),
    (b"[" * 100_000 + b"]" * 100_000, "deeply"),
    (b'{"inputs": ' + b'[' * 5000 + b']' * 5000 + b'}', "deeply"),
    (b"\xff\xfe\x00", "not valid JSON"),
    (b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], '
     b'"data": [[0, 0], [0, 0]]}]}', "nested"),
    (b'{"inputs": [], "parameters": {"x": {"y": 1}}}', "unknown field"),
    (b'{"inputs": [], "outputs": [{"name": "secret"}]}', "outputs"),
])
def test_malformed_bodies_are_refused(body: bytes, needle: str) -> None:
    assert needle in _refused(body).message


def test_batch_over_the_cap_is_413() -> None:
    assert _refused(_body(shape=[4, 4], data=[0.1] * 16)).status == 413


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(
        st.sampled_from(["id", "inputs", "name", "shape", "datatype", "data", "parameters",
                         "outputs", "x"]), inner, max_size=6),
    max_leaves=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_is_accepted_or_refused_never_an_exception(value: Any) -> None:
    body = json.dumps(value).encode()
    try:
        parse_infer(body, SPEC, CFG, OUTS)
    except Refusal as e:
        assert 400 <= e.status < 500


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_refused_cleanly(body: bytes) -> None:
    try:
        parse_infer(body, SPEC, CFG, OUTS)
    except Refusal as e:
        assert 400 <= e.status < 500


def test_http_caps_body_size_and_media_type(gated: Any, serve: Any, key: Any) -> None:
    k = key()
    gw = serve(max_body_bytes=10_000)
    url = gw.url + "/v2/models/digits/infer"
    with httpx.Client(timeout=10) as c:
        r = c.post(url, content=b"[" + b"0," * 10_000 + b"0]", headers={"X-API-Key": k})
        assert r.status_code == 413 and "larger than" in r.json()["error"]
        r = c.post(url, content=json.dumps(rows()), headers={"X-API-Key": k,
                                                             "Content-Type": "text/plain"})
        assert r.status_code == 415

        def chunks() -> Any:  # no Content-Length: the cap applies while streaming
            for _ in range(20):
                yield b" " * 1000

        r = c.post(url, content=chunks(), headers={"X-API-Key": k})
        assert r.status_code == 413
