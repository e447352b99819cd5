"""``cpmap gateway check`` against a cpmap gateway (passes) and against a bare, insecure
Starlette app serving the same model (fails, with findings)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cpmap.core.ledger import Ledger

from .conftest import run_cli as _cli


def test_check_passes_against_the_gateway(ws: Any, gated: Any, serve: Any,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    gw = serve(key_refresh_s=0.2)
    code, out, err = _cli(capsys, "gateway", "check", "digits", "--url", gw.url, "-f", "json",
                          "-w", str(ws.root))
    doc = json.loads(out)
    assert code == 0, [c for c in doc["checks"] if not c["ok"]]
    names = {c["check"] for c in doc["checks"]}
    assert {"no-credentials", "forged-key", "revoked-key", "wrong-scope", "rate-limit",
            "query-budget", "oversized-body", "polyglot-png-zip", "decompression-bomb-jpeg",
            "output-hardening"} <= names
    (ex,) = [c for c in doc["checks"] if c["check"] == "extraction-within-budget"]
    assert ex["measured"]["answered"] == 400 and ex["measured"]["refused_with"] == 429
    assert ex["measured"]["fidelity"] < 0.9 and ex["measured"]["eval_rows"] == 400
    entry = Ledger(ws).entries(kind="gateway-check")[-1]  # the one this check recorded
    assert entry.predicate["verdict"] == "pass"
    assert entry.statement["subject"][0]["digest"]["sha256"] == gated.digest
    live = [k for k in __import__("cpmap.gateway.keys", fromlist=["x"]).list_keys(ws)
            if k.revoked_at is None]
    assert live == []  # the check's keys are revoked


def test_check_fails_against_an_unprotected_app(ws: Any, gated: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from cpmap.gateway import run_in_thread

    async def meta(_: Request) -> JSONResponse:
        return JSONResponse({"name": "digits", "versions": ["1"],
                             "inputs": [{"name": "input", "datatype": "FP32",
                                         "shape": [-1, 64]}]})

    async def infer(request: Request) -> JSONResponse:
        body = await request.json()
        n = body["inputs"][0]["shape"][0]
        return JSONResponse({"outputs": [{"name": "probabilities", "data": [0.1] * 10 * n}]})

    app = Starlette(routes=[Route("/v2/models/digits", meta),
                            Route("/v2/models/digits/infer", infer, methods=["POST"])])
    bare = run_in_thread(app)
    try:
        code, out, _ = _cli(capsys, "gateway", "check", "digits", "--url", bare.url,
                            "-f", "json", "-w", str(ws.root))
    finally:
        bare.stop()
    doc = json.loads(out)
    failed = {c["check"] for c in doc["checks"] if not c["ok"]}
    assert code == 1 and {"no-credentials", "forged-key", "rate-limit",
                          "output-hardening"} <= failed
    entry = Ledger(ws).entries(kind="gateway-check")[-1]  # the one this check recorded
    assert entry.predicate["verdict"] == "fail" and entry.predicate["findings"]
