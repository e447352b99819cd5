"""Output filters (PII via CP2, secrets via CP3, deny patterns, quarantine, SSE streaming)
and the signed webhook against a local receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from cpmap.monitor.alerts import Webhook, sign
from cpmap.monitor.filters import StreamFilter, TextFilter, degenerate, sse_events

TOKEN = "AKIA" + "Z7QX3VNM4PLK2JHD"  # an AWS access key id's format (not a real one)


def test_secrets_and_pii_are_redacted() -> None:
    out = TextFilter().apply(f"use {TOKEN} and mail jane.doe@example.com now")
    assert out.action == "redacted"
    assert TOKEN not in out.text and "jane.doe@example.com" not in out.text
    assert any("secret" in r for r in out.reasons) and any("EMAIL" in r for r in out.reasons)


def test_block_policy_and_deny_patterns() -> None:
    assert TextFilter(secrets="block").apply(f"token {TOKEN}").action == "blocked"
    denied = TextFilter(deny=[r"rm\s+-rf"]).apply("just run rm -rf / as root")
    assert denied.action == "blocked" and denied.text == ""
    assert TextFilter().apply("The capital of France is Paris.").action == "pass"


@pytest.mark.parametrize("text", ["", "   ", "no no no no no no no no no no no no no",
                                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaa"])
def test_empty_and_degenerate_answers_are_quarantined(text: str) -> None:
    assert degenerate(text) is not None
    assert TextFilter().apply(text).action == "quarantined"


def test_json_schema_quarantine() -> None:
    schema = {"type": "object", "required": ["answer"],
              "properties": {"answer": {"type": "string"}}}
    f = TextFilter(schema=schema)
    assert f.apply('{"answer": "yes"}').action == "pass"
    assert f.apply('{"reply": 3}').action == "quarantined"
    assert f.apply("not json").action == "quarantined"


def test_sse_stream_is_filtered_without_buffering_the_whole_answer() -> None:
    words = [f"word{i} " for i in range(60)]
    words[30] = f"{TOKEN} "
    lines = [f'data: {json.dumps({"choices": [{"delta": {"content": w}}]})}' for w in words]
    stream = StreamFilter(TextFilter())
    events = []
    for n, event in enumerate(sse_events([*lines, "data: [DONE]"], stream)):
        events.append((n, event))
    text = "".join(json.loads(e[6:])["choices"][0]["delta"]["content"]
                   for _, e in events if e.startswith("data: {"))
    assert TOKEN not in text and "word59" in text and "word0" in text
    assert len(events) > 5  # emitted along the way, not as one buffered answer
    blocked = StreamFilter(TextFilter(secrets="block"))
    out = list(sse_events([*lines, "data: [DONE]"], blocked))
    assert all(TOKEN not in e for e in out) and "withheld" in out[-2]


class _Receiver(BaseHTTPRequestHandler):
    got: list[tuple[dict[str, str], bytes]] = []
    fail_first = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(503)
        else:
            _Receiver.got.append((dict(self.headers), body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.got, _Receiver.fail_first = [], 2
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_is_hmac_signed_and_retried(receiver: str) -> None:
    hook = Webhook(receiver, b"s3cret", retries=3, backoff_s=0.01)
    assert hook.post({"kind": "extraction", "atlas": "AML.T0024.002"})
    assert len(_Receiver.got) == 1  # two 503s, then delivered
    headers, body = _Receiver.got[0]
    ts = headers["X-Cpmap-Timestamp"]
    expected = "sha256=" + hmac.new(b"s3cret", ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Cpmap-Signature"], expected)
    assert sign(b"other", ts, body) != expected
    assert json.loads(body)["kind"] == "extraction"


def test_webhook_gives_up_after_its_retries() -> None:
    hook = Webhook("http://127.0.0.1:9/none", b"k", retries=1, backoff_s=0.01, timeout_s=0.5)
    assert hook.post({"kind": "x"}) is False


@pytest.mark.parametrize("size", [1, 3, 7, 13])
def test_stream_never_cuts_inside_a_value_it_sees(size: int) -> None:
    """A spaced IBAN is longer than the hold: a cut at whitespace alone would let its first
    groups out unmasked; the cut moves before any value found in the held text."""
    words = [f"w{i} " for i in range(40)]
    text = "".join(words[:20]) + "pay to DE89 3704 0044 0532 0130 00 today " + "".join(words[20:])
    f = StreamFilter(TextFilter(), hold=24)
    out = "".join(f.feed(text[i:i + size]) for i in range(0, len(text), size)) + f.finish()
    assert "DE89" not in out and "0130 00" not in out
    assert out.startswith("w0 ") and out.endswith("w39 ") and "today" in out
