"""Streaming chat answers (``"stream": true``): the upstream's SSE read chunk by chunk,
filtered, and re-emitted as the gateway's own events.

The upstream's stream is opened before the gateway answers, so a failing upstream is still a
clean 502 (its token reservation given back). Then the client gets ``chat.completion.chunk``
events carrying only the first choice's text and finish reason (as a whole answer carries only
those), as fast as CP8's :class:`~cpmap.monitor.filters.StreamFilter` lets the text out: PII
and secrets redacted or the answer blocked per policy, deny patterns, with a held-back tail so
that a value split across chunks is still seen whole. A blocked or quarantined answer stops
there: a notice event, ``finish_reason: "content_filter"``, and nothing more from upstream.
When the stream ends (or the client goes), the token reservation is settled to the upstream's
``usage`` or the estimate of what it produced, and the request is one prediction-log entry
holding the SHA-256 of exactly the bytes sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from cpmap.gateway.errors import Refusal
from cpmap.gateway.response import Response

if TYPE_CHECKING:
    from cpmap.gateway.app import Gateway
    from cpmap.gateway.quota import Window
    from cpmap.gateway.upstream import ChatUpstream

log = logging.getLogger("cpmap.gateway")
WITHHELD = "[response withheld by the output filter]"


async def open_chat_stream(gw: Gateway, upstream: ChatUpstream, request: dict[str, Any],
                           client: str, rid: str, windows: list[Window],
                           in_digest: str) -> Response:
    """The streaming response (headers decided now, body as the upstream produces it)."""
    from cpmap.gateway.quota import TokenBudget, headers
    from cpmap.gateway.upstream import estimate_tokens

    budget, name = TokenBudget(gw.quota, gw.cfg.chat_token_budget), gw.served.name
    reserved = estimate_tokens(request["messages"]) + int(request["max_tokens"])
    window = await budget.reserve(client, name, reserved)
    try:
        upstream_response = await upstream.open_stream(request)
    except BaseException:
        await budget.settle(client, name, -reserved)
        raise
    state = _Stream(gw, rid, client, in_digest, request, budget, reserved)
    hdrs = headers(windows + ([window] if window else []))
    return Response(200, b"", b"text/event-stream; charset=utf-8", hdrs,
                    stream=state.events(upstream_response))


class _Stream:
    """One streamed answer: filter, bytes sent and their digest, settling when it ends."""

    def __init__(self, gw: Gateway, rid: str, client: str, in_digest: str,
                 request: dict[str, Any], budget: Any, reserved: int) -> None:
        from cpmap.monitor.filters import StreamFilter

        self.gw, self.rid, self.client, self.in_digest = gw, rid, client, in_digest
        self.request, self.budget, self.reserved = request, budget, reserved
        text = getattr(gw.monitor, "text", None)  # CP8's TextFilter when monitoring is on
        self.filter = StreamFilter(text) if text is not None else None
        self.digest = hashlib.sha256()
        self.produced: list[str] = []  # the upstream's own text, for the token count
        self.usage: dict[str, Any] = {}
        self.created = int(time.time())

    def _event(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        doc = {"id": self.rid, "object": "chat.completion.chunk", "created": self.created,
               "model": self.gw.served.name,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        out = b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"
        self.digest.update(out)
        return out

    async def events(self, upstream: Any) -> AsyncIterator[bytes]:
        from cpmap.gateway.upstream import stream_pieces

        finish, reason, status = "stop", None, 200
        try:
            yield self._event({"role": "assistant", "content": ""})
            async for kind, value in stream_pieces(upstream):
                if kind == "usage":
                    self.usage = value
                elif kind == "finish":
                    finish = str(value)
                else:
                    self.produced.append(value)
                    out = self.filter.feed(value) if self.filter is not None else value
                    if out:
                        yield self._event({"content": out})
                    if self.filter is not None and self.filter.blocked is not None:
                        break
            rest = self.filter.finish() if self.filter is not None else ""
            if rest:
                yield self._event({"content": rest})
            held = self.filter.blocked if self.filter is not None else None
            if held is not None:
                reason, finish = f"filter-{held.action}", "content_filter"
                if self.gw.monitor is not None:
                    self.gw.monitor.metrics.actions.labels(held.action).inc()
                yield self._event({"content": WITHHELD})
            yield self._event({}, finish)
            yield self._done()
        except Exception as e:  # noqa: BLE001 - the status is sent: end the stream cleanly
            status, reason = 502, "upstream"
            log.error("request %s: upstream stream failed (%s)", self.rid, type(e).__name__)
            err = b'data: {"error":"upstream server failed"}\n\n'
            self.digest.update(err)
            yield err
            yield self._done()
        finally:
            await upstream.aclose()
            await self._settle()
            self.gw._log(self.rid, self.client, status, 1, self.in_digest,
                         self.digest.hexdigest(), reason)

    def _done(self) -> bytes:
        done = b"data: [DONE]\n\n"
        self.digest.update(done)
        return done

    async def _settle(self) -> None:
        from cpmap.gateway.upstream import used_tokens

        answer = {"usage": self.usage,
                  "choices": [{"message": {"content": "".join(self.produced)}}]}
        used = used_tokens(answer, self.request)
        try:
            await self.budget.settle(self.client, self.gw.served.name, used - self.reserved)
        except Refusal:  # the limit store failed closed: the reservation stays counted
            log.error("request %s: token budget not settled (limit store down)", self.rid)
