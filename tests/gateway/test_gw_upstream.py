"""Upstream mode: the gateway's controls in front of a real small OIP v2 server and an
OpenAI-compatible chat server, both started on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cpmap.gateway import run_in_thread
from cpmap.gateway.errors import ServeRefused
from cpmap.gateway.server import build_upstream

from .conftest import rows


def _oip_app(model: Any, broken: dict[str, bool]) -> Starlette:
    async def meta(_: Request) -> JSONResponse:
        return JSONResponse({"name": "digits", "inputs": [
            {"name": "pixels", "datatype": "FP32", "shape": [-1, 64]}]})

    async def infer(request: Request) -> JSONResponse:
        t = (await request.json())["inputs"][0]
        assert t["name"] == "pixels"
        probs = model.predict_proba(np.asarray(t["data"], np.float32).reshape(t["shape"]))
        if broken["on"]:
            return JSONResponse({"outputs": [{"name": "p", "datatype": "FP32",
                                              "shape": list(probs.shape),
                                              "data": [5.0] * probs.size}],
                                 "debug": "/srv/model/secret.py"})
        return JSONResponse({"outputs": [{"name": "p", "datatype": "FP32",
                                          "shape": list(probs.shape),
                                          "data": probs.ravel().tolist()}]})

    return Starlette(routes=[Route("/v2/models/digits", meta),
                             Route("/v2/models/digits/infer", infer, methods=["POST"])])


def _chat_app(seen: list[Any]) -> Starlette:
    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append(body)
        text = body["messages"][-1]["content"]
        return JSONResponse({"id": "up-1", "object": "chat.completion", "model": "llm-7b",
                             "system_fingerprint": "fp_internal_build_42",
                             "choices": [{"index": 0, "message": {"role": "assistant",
                                                                  "content": text.upper()},
                                          "finish_reason": "stop", "logprobs": [0.1]}],
                             "usage": {"prompt_tokens": 3, "completion_tokens": 3,
                                       "total_tokens": 6}})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.fixture
def upstreams(model_bytes: bytes) -> Iterator[dict[str, Any]]:
    from cpmap.models.persist import load_bytes

    broken = {"on": False}
    seen: list[Any] = []
    oip = run_in_thread(_oip_app(load_bytes(model_bytes, "m"), broken))
    chat = run_in_thread(_chat_app(seen))
    yield {"oip": oip.url, "chat": chat.url, "broken": broken, "seen": seen}
    oip.stop()
    chat.stop()


def test_oip_upstream_of_a_gated_version(ws: Any, gated: Any, upstreams: dict[str, Any],
                                         key: Any) -> None:
    k = key(output="top-k:2")
    gw = run_in_thread(build_upstream(ws, upstreams["oip"], "digits", ref="digits@1"))
    try:
        with httpx.Client(base_url=gw.url, timeout=10) as c:
            h = {"X-API-Key": k}
            r = c.post("/v2/models/digits/infer", json=rows(2), headers=h)
            assert r.status_code == 200, r.text
            assert [o["name"] for o in r.json()["outputs"]] == ["top_k_labels",
                                                                 "top_k_probabilities"]
            assert c.post("/v2/models/digits/infer", json=rows(value=9.0),
                          headers=h).status_code == 400  # training range from the registry
            assert c.post("/v2/models/digits/infer", json=rows()).status_code == 401
            upstreams["broken"]["on"] = True
            r = c.post("/v2/models/digits/infer", json=rows(), headers=h)
            assert r.status_code == 502 and r.json() == {"error": "upstream server failed"}
    finally:
        gw.stop()


def test_unregistered_upstream_needs_the_unsafe_flag(ws: Any, upstreams: dict[str, Any]
                                                     ) -> None:
    with pytest.raises(ServeRefused, match="not a registered version"):
        build_upstream(ws, upstreams["oip"], "digits")
    app = build_upstream(ws, upstreams["oip"], "digits", allow_ungated=True)
    assert app.served.version == 0 and not app.served.gate_passed
    assert app.served.spec.dim == 64 and len(app.served.classes) == 10


def test_chat_upstream(ws: Any, upstreams: dict[str, Any], key: Any) -> None:
    k = key("writer", scopes=("infer:assistant",), rate="1000/minute", budget="2/day")
    with pytest.raises(ServeRefused):
        build_upstream(ws, upstreams["chat"], "assistant", kind="openai")
    gw = run_in_thread(build_upstream(ws, upstreams["chat"], "assistant", kind="openai",
                                      allow_ungated=True, upstream_model="llm-7b"))
    url = "/v1/chat/completions"
    msg = {"messages": [{"role": "user", "content": "hello"}]}
    try:
        with httpx.Client(base_url=gw.url, timeout=10) as c:
            h = {"Authorization": f"Bearer {k}"}
            r = c.post(url, json=msg, headers=h)
            assert r.status_code == 200, r.text
            doc = r.json()
            assert doc["choices"][0]["message"] == {"role": "assistant", "content": "HELLO"}
            assert doc["model"] == "assistant" and "system_fingerprint" not in doc
            assert "logprobs" not in doc["choices"][0]
            assert upstreams["seen"][-1]["model"] == "llm-7b"
            for bad in ({"messages": []}, {**msg, "stream": "yes"},
                        {**msg, "tools": [{"type": "function"}]},
                        {"messages": [{"role": "root", "content": "x"}]},
                        {**msg, "max_tokens": 10**6}):
                assert c.post(url, json=bad, headers=h).status_code == 400, bad
            big = {"messages": [{"role": "user", "content": "x" * 40_000}]}
            assert c.post(url, json=big, headers=h).status_code == 413
            assert c.post(url, json=msg).status_code == 401
            assert c.post(url, json=msg, headers=h).status_code == 200
            assert c.post(url, json=msg, headers=h).status_code == 429  # budget 2/day
            assert c.post("/v2/models/assistant/infer", json=rows(),
                          headers=h).status_code == 404
    finally:
        gw.stop()


def test_chat_tokens_count_against_a_token_budget(ws: Any, upstreams: dict[str, Any],
                                                  key: Any) -> None:
    from cpmap.gateway.config import load

    k = key("talker", scopes=("infer:assistant",), rate="1000/minute", budget="1000/day")
    cfg = load(ws, env={}, chat_token_budget="40/day")
    gw = run_in_thread(build_upstream(ws, upstreams["chat"], "assistant", kind="openai",
                                      cfg=cfg, allow_ungated=True))
    msg = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 10}
    h = {"Authorization": f"Bearer {k}"}
    try:
        with httpx.Client(base_url=gw.url, timeout=10) as c:
            long = c.post("/v1/chat/completions", json={**msg, "max_tokens": 1000}, headers=h)
            assert long.status_code == 429  # prompt + max_tokens cannot fit in 40 tokens
            states = []
            for _ in range(5):  # each reserves 6 + 10 and is settled to the upstream's 6
                r = c.post("/v1/chat/completions", json=msg, headers=h)
                assert r.status_code == 200, r.text
                states.append(r.headers["ratelimit"].split('"tokens";r=')[1].split(";")[0])
            assert states == ["34", "28", "22", "16", "10"]
            r = c.post("/v1/chat/completions", json=msg, headers=h)
            assert r.status_code == 429 and "per day" in r.json()["error"]
            assert "retry-after" in r.headers
            small = {**msg, "max_tokens": 4}  # the refused reservation was given back
            assert c.post("/v1/chat/completions", json=small, headers=h).status_code == 200
    finally:
        gw.stop()


def test_token_estimates() -> None:
    from cpmap.gateway.upstream import estimate_tokens, used_tokens

    assert estimate_tokens([{"role": "user", "content": "hello"}]) == 6
    assert estimate_tokens([{"role": "user", "content": "x" * 400}]) == 104
    req = {"messages": [{"role": "user", "content": "a b c"}]}
    answer = {"choices": [{"message": {"role": "assistant", "content": "d e"}}]}
    assert used_tokens(answer, req) == 7 + 2  # estimated: no usage reported
    assert used_tokens({**answer, "usage": {"total_tokens": 42}}, req) == 42


def test_cli_refuses_an_ungated_upstream(ws: Any, upstreams: dict[str, Any],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from cpmap.cli import main

    with pytest.raises(SystemExit) as e:
        main(["serve", "--upstream", upstreams["oip"], "--name", "digits", "--port", "0",
              "-w", str(ws.root)])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert "not a registered version" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as e:
        main(["serve", "-w", str(ws.root)])
    assert e.value.code == 2




def test_chat_parser_never_raises_anything_but_a_refusal() -> None:
    import json

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from cpmap.gateway.config import GatewayConfig
    from cpmap.gateway.errors import Refusal
    from cpmap.gateway.upstream import ChatLimits, parse_chat

    leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
    tree = st.recursive(leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["model", "messages", "role", "content", "max_tokens", "stream",
                         "temperature", "top_p", "stop", "x"]), inner, max_size=5),
        max_leaves=30)

    @settings(max_examples=300, deadline=None)
    @given(tree)
    def run(value: Any) -> None:
        try:
            out = parse_chat(json.dumps(value).encode(), "assistant", ChatLimits(),
                             GatewayConfig())
            assert set(out) <= {"messages", "max_tokens", "temperature", "top_p", "stop"}
        except Refusal as e:
            assert 400 <= e.status < 500

    run()
