"""Upstream mode: the same controls in front of an existing server.

``oip``: an Open Inference Protocol v2 server (KServe, MLServer, Triton). The gateway validates,
limits and hardens as for a local model; :class:`OipUpstream` is the model, forwarding the
validated rows in the worker thread and checking that the answer is an ``[n, k]`` table of
probabilities before any client sees it. When NAME is a registered version, it is verified and
gated as usual and its metadata gives the input contract; otherwise only
``--unsafe-allow-ungated`` serves it, with the shape the upstream declares and no range check.

``openai``: an OpenAI-compatible ``/v1/chat/completions`` server (text in, text out). Requests
are validated field by field (roles, sizes, token caps, no unknown fields), and only the
answer's text, finish reason and token counts go back to the client; ``"stream": true`` is
answered as server-sent events, filtered chunk by chunk (:mod:`~cpmap.gateway.chatstream`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cpmap.gateway.errors import GatewayError, Refusal
from cpmap.gateway.validate import _check_keys, bad, parse_json


class UpstreamError(Exception):
    """The upstream failed or answered something that is not a prediction."""


def _client(timeout: float) -> Any:
    import httpx

    return httpx.Client(timeout=timeout, headers={"Accept": "application/json"})


@dataclass
class OipUpstream:
    base: str
    name: str
    input_name: str
    input_dim: int
    n_classes: int
    timeout: float = 10.0
    kind: str = "upstream"
    meta: dict[str, Any] = field(default_factory=dict)
    client: Any = field(default=None, repr=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.input_dim,)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import httpx

        if self.client is None:
            self.client = _client(self.timeout)
        n = int(x.shape[0])
        body = {"inputs": [{"name": self.input_name, "datatype": "FP32",
                            "shape": [n, self.input_dim], "data": x.ravel().tolist()}]}
        try:
            r = self.client.post(f"{self.base}/v2/models/{self.name}/infer", json=body)
            outputs = r.json().get("outputs") if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError) as e:
            raise UpstreamError(type(e).__name__) from e
        if not isinstance(outputs, list) or not outputs:
            raise UpstreamError(f"upstream answered {r.status_code} without outputs")
        return _probabilities(outputs, n, self.n_classes)

    def probe_classes(self) -> int:
        """The number of classes: the width of the answer to one zero row."""
        if self.client is None:
            self.client = _client(self.timeout)
        body = {"inputs": [{"name": self.input_name, "datatype": "FP32",
                            "shape": [1, self.input_dim], "data": [0.0] * self.input_dim}]}
        outs = self.client.post(f"{self.base}/v2/models/{self.name}/infer", json=body).json()
        return int(outs["outputs"][0]["shape"][-1])


def _probabilities(outputs: list[Any], n: int, k: int) -> np.ndarray:
    for out in outputs:
        if isinstance(out, dict) and out.get("shape") == [n, k] and out.get("datatype") in (
                "FP32", "FP64"):
            try:
                probs = np.asarray(out.get("data"), dtype=np.float64).reshape(n, k)
            except (TypeError, ValueError) as e:
                raise UpstreamError("output data is not numbers of its shape") from e
            if np.isfinite(probs).all() and probs.min() >= -1e-6 and probs.max() <= 1 + 1e-6:
                return probs
            raise UpstreamError("output is not probabilities")
    raise UpstreamError(f"no [{n}, {k}] probability output")


def probe_oip(base: str, name: str, timeout: float = 10.0) -> OipUpstream:
    """Describe an upstream model from its metadata and one zero row."""
    import httpx

    base = base.rstrip("/")
    try:
        with _client(timeout) as c:
            meta = c.get(f"{base}/v2/models/{name}").raise_for_status().json()
        inp = meta["inputs"][0]
        dim = int(inp["shape"][-1])
        if inp.get("datatype") not in ("FP32", "FP64") or dim < 1:
            raise ValueError("not an FP32 [n, d] input")
        up = OipUpstream(base, name, str(inp["name"]), dim, 1, timeout)
        probe = up.probe_classes()
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError, UpstreamError) as e:
        raise GatewayError(f"{base}: cannot use upstream model {name!r} "
                           f"({type(e).__name__}: {str(e)[:80]})") from e
    up.n_classes = probe
    return up


# -- OpenAI-compatible chat ---------------------------------------------------------------------

CHAT_KEYS = frozenset({"model", "messages", "max_tokens", "temperature", "top_p", "stop",
                       "user", "stream"})
ROLES = frozenset({"system", "user", "assistant"})
FINISH = frozenset({"stop", "length", "content_filter"})


@dataclass(frozen=True)
class ChatLimits:
    max_messages: int = 64
    max_chars: int = 32_768
    max_tokens: int = 1024


def parse_chat(body: bytes, name: str, limits: ChatLimits, cfg: Any) -> dict[str, Any]:
    """A validated chat request, reduced to the fields forwarded upstream."""
    doc = _check_keys(parse_json(body, cfg), CHAT_KEYS, "request")
    if doc.get("stream") not in (None, False, True):
        raise bad("stream: true or false")
    if doc.get("model") not in (None, name):
        raise bad(f"model: this gateway serves {name!r}")
    msgs = doc.get("messages")
    if not isinstance(msgs, list) or not 1 <= len(msgs) <= limits.max_messages:
        raise bad(f"messages: a list of 1..{limits.max_messages} messages")
    total = 0
    for i, m in enumerate(msgs):
        m = _check_keys(m, frozenset({"role", "content"}), f"messages[{i}]")
        if m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise bad(f"messages[{i}]: role system|user|assistant and a string content")
        total += len(m["content"])
    if total > limits.max_chars:
        raise Refusal(413, f"messages: more than {limits.max_chars} characters", "too-long")
    out: dict[str, Any] = {"messages": [{"role": m["role"], "content": m["content"]}
                                        for m in msgs]}
    tokens = doc.get("max_tokens", limits.max_tokens)
    if type(tokens) is not int or not 1 <= tokens <= limits.max_tokens:
        raise bad(f"max_tokens: an integer 1..{limits.max_tokens}")
    out["max_tokens"] = tokens
    if doc.get("stream") is True:  # answered as SSE, filtered chunk by chunk (chatstream)
        out["stream"] = True
    for key, hi in (("temperature", 2.0), ("top_p", 1.0)):
        if key in doc:
            v = doc[key]
            if type(v) not in (int, float) or not 0 <= v <= hi:
                raise bad(f"{key}: a number in [0, {hi:g}]")
            out[key] = v
    stop = doc.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or len(stops) > 4 or not all(
                isinstance(s, str) and len(s) <= 32 for s in stops):
            raise bad("stop: a string or up to 4 strings of 32 characters")
        out["stop"] = stops
    return out


_PIECE = re.compile(r"\w+|[^\w\s]")
MESSAGE_OVERHEAD = 4  # role and separators: what OpenAI-style chat formats add per message


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    """Prompt tokens without the model's tokenizer: the larger of words-and-punctuation and
    characters / 4 (BPE tokenizers give about 4 characters a token on English text), plus the
    per-message overhead; an upper-leaning estimate, used only until the upstream reports."""
    total = 0
    for m in messages:
        text = m["content"]
        total += max(len(_PIECE.findall(text)), -(-len(text) // 4)) + MESSAGE_OVERHEAD
    return total


def used_tokens(answer: dict[str, Any], request: dict[str, Any]) -> int:
    """Tokens a completed request used: the upstream's ``usage`` when it reports it, else the
    estimate of the prompt and of every returned choice."""
    usage = answer.get("usage") or {}
    if isinstance(usage.get("total_tokens"), int):
        return int(usage["total_tokens"])
    prompt = usage.get("prompt_tokens")
    done = usage.get("completion_tokens")
    if not isinstance(prompt, int):
        prompt = estimate_tokens(request["messages"])
    if not isinstance(done, int):
        done = estimate_tokens([c["message"] for c in answer["choices"]]) - \
            MESSAGE_OVERHEAD * len(answer["choices"])
    return int(prompt) + int(done)


class ChatUpstream:
    def __init__(self, base: str, model: str, timeout: float = 30.0) -> None:
        self.base, self.model, self.timeout = base.rstrip("/"), model, timeout
        self._client: Any = None

    async def complete(self, request: dict[str, Any], name: str, rid: str) -> dict[str, Any]:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        try:
            r = await self._client.post(f"{self.base}/v1/chat/completions",
                                        json={**request, "model": self.model, "stream": False})
            doc = r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as e:
            raise Refusal(502, "upstream server failed", "upstream") from e
        return _chat_answer(doc, name, rid)

    async def open_stream(self, request: dict[str, Any]) -> Any:
        """The upstream's SSE answer, opened: its status checked before the gateway answers
        anything (a failure is still a clean 502); read it with :func:`stream_pieces`."""
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        body = {**request, "model": self.model, "stream": True}
        try:
            r = await self._client.send(self._client.build_request(
                "POST", f"{self.base}/v1/chat/completions", json=body), stream=True)
        except httpx.HTTPError as e:
            raise Refusal(502, "upstream server failed", "upstream") from e
        ctype = r.headers.get("content-type", "")
        if r.status_code != 200 or not ctype.startswith("text/event-stream"):
            await r.aclose()
            raise Refusal(502, "upstream server failed", "upstream")
        return r

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


async def stream_pieces(response: Any) -> AsyncIterator[tuple[str, Any]]:
    """``("text", str)``, ``("finish", reason)`` and ``("usage", dict)`` from an OpenAI-style
    SSE stream (``data: {json}`` events, ``data: [DONE]`` last), first choice only; events
    that are not chat chunks are skipped. Ends at ``[DONE]`` or when the upstream closes."""
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                yield "usage", usage
            choices = chunk.get("choices") or []
            first = choices[0] if choices else {}
            content = (first.get("delta") or {}).get("content")
            reason = first.get("finish_reason")
        except (ValueError, TypeError, AttributeError, IndexError):
            continue
        if isinstance(content, str) and content:
            yield "text", content
        if reason is not None:
            yield "finish", reason if reason in FINISH else "stop"


def _chat_answer(doc: Any, name: str, rid: str) -> dict[str, Any]:
    """Only the text, the finish reason and token counts of the upstream's answer."""
    try:
        choices = []
        for i, ch in enumerate(doc["choices"][:8]):
            content = ch["message"]["content"]
            if not isinstance(content, str):
                raise TypeError("content")
            reason = ch.get("finish_reason")
            choices.append({"index": i, "message": {"role": "assistant", "content": content},
                            "finish_reason": reason if reason in FINISH else "stop"})
        usage = doc.get("usage") or {}
        counts = {k: int(usage[k]) for k in ("prompt_tokens", "completion_tokens",
                                             "total_tokens") if type(usage.get(k)) is int}
    except (KeyError, TypeError, IndexError, AttributeError) as e:
        raise Refusal(502, "upstream answered something that is not a chat completion",
                      "upstream") from e
    if not choices:
        raise Refusal(502, "upstream answered no choices", "upstream")
    return {"id": rid, "object": "chat.completion", "created": int(time.time()), "model": name,
            "choices": choices, **({"usage": counts} if counts else {})}
