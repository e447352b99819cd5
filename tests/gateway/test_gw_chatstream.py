"""Chat answers filtered on their way out, through the real gateway in front of a real
OpenAI-compatible upstream on 127.0.0.1: whole answers (CP8's filter_chat) and SSE streams
filtered chunk by chunk, with values split across chunk boundaries still caught."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cpmap.gateway import run_in_thread
from cpmap.gateway.server import build_upstream

TOKEN = "AKIA" + "Z7QX3VNM4PLK2JHD"  # an AWS access key id's format (not a real one)
URL = "/v1/chat/completions"
ASK = {"messages": [{"role": "user", "content": "tell me"}]}


def _words(n: int) -> list[str]:
    return [f"word{i} " for i in range(n)]


class Upstream:
    """The fake LLM: answers ``pieces`` whole, or as SSE chunks; can pause mid-stream until
    the test has seen output (proof that the gateway does not wait for the whole answer)."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.fail = False
        self.pause_after: int | None = None
        self.resume = threading.Event()
        self.released_early = False

    def app(self) -> Starlette:
        async def chat(request: Request) -> Response:
            body = await request.json()
            if self.fail:
                return JSONResponse({"error": "boom"}, status_code=500)
            if not body.get("stream"):
                return JSONResponse({"choices": [{"index": 0, "message": {
                    "role": "assistant", "content": "".join(self.pieces)},
                    "finish_reason": "stop"}]})
            return StreamingResponse(self._sse(), media_type="text/event-stream")

        return Starlette(routes=[Route(URL, chat, methods=["POST"])])

    async def _sse(self) -> AsyncIterator[bytes]:
        for i, piece in enumerate(self.pieces):
            if i == self.pause_after:  # wait (bounded) for the client to have seen text
                self.released_early = await asyncio.to_thread(self.resume.wait, 20)
            chunk = {"object": "chat.completion.chunk", "system_fingerprint": "fp_internal",
                     "choices": [{"index": 0, "delta": {"content": piece},
                                  "finish_reason": None}]}
            yield f"data: {json.dumps(chunk)}\n\n".encode()
        end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 40, "total_tokens": 43}}
        yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode()


@pytest.fixture
def upstream() -> Iterator[tuple[Upstream, str]]:
    up = Upstream()
    handle = run_in_thread(up.app())
    yield up, handle.url
    up.resume.set()
    handle.stop()


@pytest.fixture
def chat(ws: Any, upstream: tuple[Upstream, str], key: Any,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """start(**monitoring settings) -> (gateway handle, auth headers)."""
    running: list[Any] = []
    k = key("writer", scopes=("infer:assistant",), rate="1000/minute", budget="1000/day")

    def start(**monitoring: Any) -> tuple[Any, dict[str, str]]:
        with monkeypatch.context() as m:  # [monitoring] as the gateway builder reads it
            for name, value in monitoring.items():
                text = "\n".join(value) if isinstance(value, tuple) else str(value)
                m.setenv(f"CPMAP_MONITORING_{name.upper()}", text)
            app = build_upstream(ws, upstream[1], "assistant", kind="openai",
                                 allow_ungated=True, upstream_model="llm-7b")
        running.append(run_in_thread(app))
        return running[-1], {"Authorization": f"Bearer {k}"}

    yield start
    for r in running:
        r.stop()


def _events(raw: bytes) -> list[Any]:
    out: list[Any] = []
    for block in raw.decode().split("\n\n"):
        if block.startswith("data: "):
            data = block[6:]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def _text(events: list[Any]) -> str:
    return "".join(e["choices"][0]["delta"].get("content", "") for e in events
                   if isinstance(e, dict) and "choices" in e)


def test_whole_answer_is_filtered_through_a_real_upstream(
        upstream: tuple[Upstream, str], chat: Any) -> None:
    up, _ = upstream
    up.pieces = ["mail ", "ana.lopez@example.org", f" key {TOKEN} ", "thanks"]
    gw, h = chat()
    r = httpx.post(gw.url + URL, json=ASK, headers=h, timeout=20)
    assert r.status_code == 200, r.text
    text = r.json()["choices"][0]["message"]["content"]
    assert TOKEN not in text and "ana.lopez@example.org" not in text
    assert text.startswith("mail ") and text.endswith("thanks")
    blocking, h2 = chat(filter_secrets="block")
    r = httpx.post(blocking.url + URL, json=ASK, headers=h2, timeout=20)
    assert r.status_code == 422 and r.json() == {"error": "response withheld by the output "
                                                          "filter"}


def test_stream_is_filtered_chunk_by_chunk_with_split_values_caught(
        upstream: tuple[Upstream, str], chat: Any) -> None:
    up, _ = upstream
    words = _words(80)
    # a secret and an e-mail address each split across two chunks
    words[20:22] = ["key " + TOKEN[:7], TOKEN[7:] + " ok "]
    words[50:52] = ["write to ana.lo", "pez@example.org now "]
    up.pieces, up.pause_after = words, 70
    gw, h = chat()
    seen = b""
    with httpx.stream("POST", gw.url + URL, json={**ASK, "stream": True}, headers=h,
                      timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-request-id"]
        for chunk in r.iter_bytes():
            seen += chunk
            if b"word10 " in seen:  # output arrived while the upstream is still paused
                up.resume.set()
    assert up.released_early  # the gateway did not wait for the whole answer
    events = _events(seen)
    assert events[-1] == "[DONE]" and events[-2]["choices"][0]["finish_reason"] == "stop"
    assert all(e["object"] == "chat.completion.chunk" and "system_fingerprint" not in e
               for e in events[:-1])
    text = _text(events)
    assert TOKEN not in text and TOKEN[:7] + TOKEN[7:] not in text
    assert "ana.lopez@example.org" not in text
    assert text.startswith("word0 ") and "word79" in text and " ok " in text
    assert len([e for e in events if isinstance(e, dict)]) > 5  # emitted along the way
    (entry,) = [e for e in gw.app.predlog._pending if e["client"] == "writer"]
    assert entry["status"] == 200 and entry["output"] == hashlib.sha256(seen).hexdigest()


@pytest.mark.parametrize("policy", ["secret", "deny"])
def test_a_blocked_stream_stops_with_a_notice(upstream: tuple[Upstream, str], chat: Any,
                                              policy: str) -> None:
    up, _ = upstream
    words = _words(60)
    if policy == "secret":
        words[40:42] = ["key " + TOKEN[:5], TOKEN[5:] + " "]
        gw, h = chat(filter_secrets="block")
    else:
        words[40:42] = ["the launch co", "des are "]
        gw, h = chat(deny_patterns=("launch codes",))
    up.pieces = words
    r = httpx.post(gw.url + URL, json={**ASK, "stream": True}, headers=h, timeout=30)
    assert r.status_code == 200
    events = _events(r.content)
    text = _text(events)
    assert TOKEN not in text and "launch codes" not in text and "word59" not in text
    assert text.startswith("word0 ") and text.endswith("[response withheld by the output "
                                                       "filter]")
    assert events[-2]["choices"][0]["finish_reason"] == "content_filter"
    assert events[-1] == "[DONE]"
    (entry,) = [e for e in gw.app.predlog._pending if e["client"] == "writer"]
    assert entry["reason"] == "filter-blocked"


def test_a_failing_upstream_is_a_clean_502_before_any_event(
        upstream: tuple[Upstream, str], chat: Any) -> None:
    up, _ = upstream
    up.fail = True
    gw, h = chat()
    r = httpx.post(gw.url + URL, json={**ASK, "stream": True}, headers=h, timeout=20)
    assert r.status_code == 502 and r.json() == {"error": "upstream server failed"}
    assert httpx.post(gw.url + URL, json={**ASK, "stream": "yes"}, headers=h,
                      timeout=20).status_code == 400
