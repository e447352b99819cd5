"""The gateway as one pure ASGI application (no middleware stack, no schema library).

Each request runs the same short pipeline, in this order, and any step may refuse it with a
:class:`Refusal` (a 4xx, or 503 when the limit store is down, as ``{"error": ...}``):
route -> address not over its failed-auth limit -> credentials (API key, constant time) ->
scope -> global and client rate -> body (capped, timed) -> validation (JSON or image) ->
query budget (rows) -> concurrency cap -> model in a worker thread (timeout) -> output policy
-> response with security headers and ``X-Request-ID``; then a prediction-log entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from cpmap.errors import StoreError
from cpmap.gateway.body import Receive, Scope, parse_body, read_body
from cpmap.gateway.body import credential as _credential
from cpmap.gateway.errors import GatewayError, Refusal
from cpmap.gateway.harden import OutputPolicy
from cpmap.gateway.metrics import Metrics
from cpmap.gateway.quota import Quota, Window, headers
from cpmap.gateway.response import Response, json_response
from cpmap.gateway.upstream import UpstreamError

if TYPE_CHECKING:
    import numpy as np

    from cpmap.gateway.budget import BudgetPlan
    from cpmap.gateway.config import GatewayConfig
    from cpmap.gateway.jwtauth import JwtVerifier
    from cpmap.gateway.keys import ApiKey, KeyRing
    from cpmap.gateway.predlog import PredictionLog
    from cpmap.gateway.served import Served

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
log = logging.getLogger("cpmap.gateway")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
PUBLIC: dict[str, dict[str, Any]] = {  # no credentials needed ("/v2/health/ready" is live)
    "/v2/health/live": {"live": True}, "/v2/health/ready": {}, "/openapi.json": {},
    "/v2": {"name": "cpmap-gateway", "extensions": []}}


class Gateway:
    """Serve one version; call it as an ASGI app (uvicorn, or any ASGI server)."""

    def __init__(self, served: Served, cfg: GatewayConfig, keyring: KeyRing, quota: Quota,
                 plan: BudgetPlan, openapi: dict[str, Any], *,
                 predlog: PredictionLog | None = None,
                 refresh: Callable[[], None] | None = None,
                 on_budget_spent: Callable[[str], None] | None = None,
                 jwt: JwtVerifier | None = None,
                 reloader: Callable[[], Served] | None = None,
                 chat: Any = None) -> None:
        self.served, self.cfg, self.keyring, self.quota, self.plan = (served, cfg, keyring,
                                                                      quota, plan)
        self.openapi = json.dumps(openapi).encode()
        self.predlog, self._refresh, self._on_spent = predlog, refresh, on_budget_spent
        self.jwt = jwt
        self._reloader = reloader
        self.chat = chat  # (ChatUpstream, ChatLimits): an OpenAI-compatible upstream
        self.canary: Any = None  # CP10: a cpmap.retrain.canary.Canary (cpmap.retrain.rollout)
        self.metrics = Metrics()
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cpmap-model")
        self._sem: asyncio.Semaphore | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = False
        self.outputs = frozenset(n for p in ("full", "label", "top-k:1")
                                 for n, _ in OutputPolicy.parse(p).output_names())
        self._model_paths = {} if chat is not None else _paths(served)
        self._scope = f"infer:{served.name}"
        self._policies: dict[str, OutputPolicy] = {}
        self._predict_s: dict[str, float] = {}  # digest -> its last predict time (inline)
        self.monitor: Any = None  # CP8, set by cpmap.monitor.live.attach
        self.keep_inputs = False  # CP9: rows to the log writer (cpmap.drift.live.attach)

    def reload(self) -> Served:
        """Load the ref again (a moved stage, a re-gated version): manifest, digest and gate
        are checked again; on any failure the current version keeps serving."""
        if self._reloader is None:
            raise GatewayError("this gateway was built without a reloader")
        fresh = self._reloader()
        if fresh.name != self.served.name:
            raise GatewayError(f"reload: {fresh.ref} is not a version of {self.served.name}")
        self.served, self._model_paths = fresh, _paths(fresh)
        log.warning("reloaded: now serving %s sha256:%s", fresh.ref, fresh.digest[:12])
        return fresh

    # -- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        self._sem = asyncio.Semaphore(self.cfg.max_concurrency)
        self._on_sighup()
        self._stop = asyncio.Event()
        if self.predlog is not None:
            self._tasks.append(asyncio.create_task(self.predlog.run(self._stop)))
        if self._refresh is not None:
            self._tasks.append(asyncio.create_task(self._refresh_keys()))
        self.ready = True

    def _on_sighup(self) -> None:
        """SIGHUP reloads (re-verified, re-gated) when the gateway runs in the main thread."""
        import signal

        def hup() -> None:
            async def run() -> None:
                try:
                    await asyncio.to_thread(self.reload)
                except Exception as e:  # noqa: BLE001 - keep serving the verified version
                    log.error("reload refused, still serving %s: %s", self.served.ref, e)
            self._tasks.append(asyncio.ensure_future(run()))

        if self._reloader is not None and hasattr(signal, "SIGHUP"):
            try:
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, hup)
            except (RuntimeError, ValueError):  # not the main thread (tests, the demo)
                pass

    async def shutdown(self) -> None:
        self.ready = False
        if self.monitor is not None:
            self.monitor.close()
        self._stop.set()
        for t in self._tasks:
            await t
        self._tasks.clear()
        self.pool.shutdown(wait=False)

    async def _refresh_keys(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.cfg.key_refresh_s)
            except TimeoutError:
                pass
            try:
                assert self._refresh is not None  # noqa: S101 - set when this task runs
                await asyncio.to_thread(self._refresh)
            except StoreError as e:  # the store is down: one line; keep the last good set
                log.error("refreshing API keys failed, keeping the last set: %s", e.message)
            except Exception as e:  # noqa: BLE001 - keep the last good key set; one line
                log.error("refreshing API keys failed, keeping the last set: %s: %s",
                          type(e).__name__, str(e).splitlines()[0][:200] if str(e) else "")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        rid = os.urandom(16).hex()  # 128 random bits, as uuid4 (a third of its cost)
        route = "other"
        try:
            route, resp, rid = await self._dispatch(scope, receive, rid)
        except Refusal as r:
            self.metrics.refused(r.reason)
            resp = json_response(r.status, {"error": r.message}, r.headers)
            if route == "other":
                route = self._route_name(scope)
            if route == "infer":
                self._log(rid, None, r.status, 0, None, None, r.reason,
                          extra=getattr(r, "fields", None))
        except Exception:  # noqa: BLE001 - a bug must not leak a traceback or a path
            log.exception("request %s failed", rid)
            resp = json_response(500, {"error": "internal error", "request_id": rid})
        await self._send(send, resp, rid)
        self.metrics.observe(route, resp.status, time.perf_counter() - start)

    async def _send(self, send: Send, resp: Response, rid: str) -> None:
        hdrs = [(b"content-type", resp.content_type),
                (b"content-length", str(len(resp.body)).encode()),
                (b"x-request-id", rid.encode()), *SECURITY_HEADERS]
        if resp.stream is not None:
            hdrs[1] = (b"x-accel-buffering", b"no")  # no length; proxies must not buffer
        hdrs += [(k.lower().encode(), v.encode()) for k, v in resp.headers.items()]
        await send({"type": "http.response.start", "status": resp.status, "headers": hdrs})
        if resp.stream is None:
            await send({"type": "http.response.body", "body": resp.body})
            return
        try:
            async for chunk in resp.stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await resp.stream.aclose()  # type: ignore[attr-defined]  # an async generator

    # -- routing --------------------------------------------------------------------------------

    def _route_name(self, scope: Scope) -> str:
        return self._model_paths.get(str(scope.get("path", "")).rstrip("/") or "/", "other")

    async def _dispatch(self, scope: Scope, receive: Receive,
                        rid: str) -> tuple[str, Response, str]:
        path = str(scope["path"])
        method = scope["method"]
        if path in PUBLIC:
            _allow(method, "GET")
            if path == "/openapi.json":
                return "openapi", Response(200, self.openapi), rid
            doc = {"ready": self.ready} if path == "/v2/health/ready" else PUBLIC[path]
            return "health", json_response(200, doc), rid
        if path == "/metrics":
            _allow(method, "GET")
            await self._authorize(scope, "metrics")
            return "metrics", Response(200, self.metrics.render(),
                                       self.metrics.content_type.encode()), rid
        if path == "/v1/chat/completions" and self.chat is not None:
            _allow(method, "POST")
            return await self._chat(scope, receive, rid)
        route = self._model_paths.get(path)
        if route is None:
            if path.startswith("/v2/models/"):
                await self._authorize(scope, "infer:" + path.split("/")[3])
            raise Refusal(404, "not found", "not-found")
        _allow(method, "POST" if route == "infer" else "GET")
        key = await self._authorize(scope, self._scope)
        if route == "infer":
            resp, rid = await self._infer(scope, receive, key, rid)
            return route, resp, rid
        await self.quota.admit(key.client, key.rate)
        if route == "meta":
            return route, json_response(200, self._metadata(key)), rid
        return route, json_response(200, {"name": self.served.name, "ready": self.ready}), rid

    def _metadata(self, key: ApiKey) -> dict[str, Any]:
        policy = self._policy(key)
        return {"name": self.served.name, "versions": [str(self.served.version)],
                "platform": "cpmap", "inputs": self.served.spec.inputs(),
                "outputs": [{"name": n, "datatype": t, "shape": [-1, -1]}
                            for n, t in policy.output_names()]}

    def _policy(self, key: ApiKey) -> OutputPolicy:
        if not key.output:
            return self.plan.default_output
        found = self._policies.get(key.output)
        if found is None:  # a handful of distinct policies: parsed once each
            found = self._policies[key.output] = OutputPolicy.parse(key.output)
        return found

    # -- authentication -------------------------------------------------------------------------

    async def _authorize(self, scope: Scope, needed: str) -> ApiKey:
        address = (scope.get("client") or ("unknown", 0))[0]
        await self.quota.check_address(address)
        presented = _credential(scope)
        key = self.keyring.authenticate(presented) if presented else None
        if key is None and presented and self.jwt is not None and presented.count(".") == 2:
            key = await self.jwt.authenticate(presented)
        if key is None:
            await self.quota.auth_failed(address)
            challenge = 'Bearer realm="cpmap"' + (', error="invalid_token"' if presented else "")
            raise Refusal(401, "invalid API key" if presented else "missing API key",
                          "bad-credentials" if presented else "no-credentials",
                          {"WWW-Authenticate": challenge})
        if not key.allows(needed):
            raise Refusal(403, f"key does not grant {needed}", "scope")
        return key

    # -- inference ------------------------------------------------------------------------------

    async def _read(self, scope: Scope, receive: Receive) -> bytes:
        return await read_body(scope, receive, self.cfg)

    def _parse(self, scope: Scope, body: bytes) -> tuple[str | None, np.ndarray, str]:
        return parse_body(scope, body, self.served.spec, self.cfg, self.outputs)

    async def _infer(self, scope: Scope, receive: Receive, key: ApiKey,
                     rid: str) -> tuple[Response, str]:
        t0 = time.perf_counter()
        policy = self._policy(key)
        budget = key.budget or self.plan.limit_for(policy)
        windows, spent, x, given, in_digest = await self._admit_rows(scope, receive, key, budget)
        rid = given or rid
        served = self.served if self.canary is None else self.canary.pick(key.client,
                                                                           self.served)
        started = time.perf_counter()
        try:
            probs = await self._predict(x, served)
        except Refusal:
            if self.canary is not None:
                self.canary.observe(served, x, None, time.perf_counter() - started)
            raise
        if self.canary is not None:
            self.canary.observe(served, x, probs, time.perf_counter() - started)
        self.metrics.rows.inc(len(x))
        extra, fields = (self.monitor.check(key.client, x, probs, served.digest)
                         if self.monitor is not None else ([], {}))
        doc = {"model_name": served.name, "model_version": str(served.version),
               "id": rid, "outputs": policy.apply(probs) + extra}
        resp = json_response(200, doc, headers(windows + ([spent] if spent else [])))
        self._log(rid, key.client, 200, len(x), in_digest, hashlib.sha256(resp.body).hexdigest(),
                  None, probs,
                  extra={**fields, "latency_ms": round((time.perf_counter() - t0) * 1e3, 3)},
                  inputs=x)
        return resp, rid

    async def _admit_rows(self, scope: Scope, receive: Receive, key: ApiKey, budget: str
                          ) -> tuple[list[Window], Window | None, np.ndarray, str | None, str]:
        """Rate, body, validation, budget: (rate windows, budget window, rows, given id,
        input digest). In memory the rate is counted before the body is read; with Redis the
        rate and the budget are one round trip after validation (a refused body then counts
        its rate alone, so invalid requests are rate-limited as before)."""
        monthly = budget.endswith("/month")
        shared = self.quota.shared
        if shared:
            self.quota.admit_global()
            windows: list[Window] = []
        else:
            windows = await self.quota.admit(key.client, key.rate)
        if self.monitor is not None:
            self.monitor.admit(key.client)
        try:
            given, x, in_digest = self._parse(scope, await self._read(scope, receive))
        except Refusal:
            if shared:
                await self.quota._hit("rate", self.quota.parsed(key.rate),
                                      ("rate", key.client), 1, "rate")
            raise
        try:
            if shared:
                windows, spent = await self.quota.admit_spend(
                    key.client, key.rate, self.served.name, budget, len(x), monthly)
            else:
                spent = await self.quota.spend(key.client, self.served.name, budget, len(x),
                                               monthly)
        except Refusal as r:
            if r.reason == "budget" and self._on_spent is not None:
                self._on_spent(key.client)
            raise
        return windows, spent, x, given, in_digest

    async def _chat(self, scope: Scope, receive: Receive,
                    rid: str) -> tuple[str, Response, str]:
        from cpmap.gateway.upstream import parse_chat

        upstream, limits = self.chat
        key = await self._authorize(scope, self._scope)
        windows = await self.quota.admit(key.client, key.rate)
        body = await self._read(scope, receive)
        request = parse_chat(body, self.served.name, limits, self.cfg)
        budget = key.budget or self.plan.limit_for(self._policy(key))
        spent = await self.quota.spend(key.client, self.served.name, budget, 1,
                                       budget.endswith("/month"))
        if request.pop("stream", False):  # SSE, filtered chunk by chunk
            from cpmap.gateway.chatstream import open_chat_stream

            return "chat", await open_chat_stream(
                self, upstream, request, key.client, rid, windows + ([spent] if spent else []),
                hashlib.sha256(body).hexdigest()), rid
        doc, tokens = await self._chat_tokens(upstream, request, key.client, rid)
        if self.monitor is not None:
            doc = self.monitor.filter_chat(doc)
        resp = json_response(200, doc, headers(windows + [w for w in (spent, tokens) if w]))
        self._log(rid, key.client, 200, 1, hashlib.sha256(body).hexdigest(),
                  hashlib.sha256(resp.body).hexdigest(), None)
        return "chat", resp, rid

    async def _chat_tokens(self, upstream: Any, request: dict[str, Any], client: str,
                           rid: str) -> tuple[dict[str, Any], Window | None]:
        """The completion, its prompt and answer tokens counted against the token budget."""
        from cpmap.gateway.quota import TokenBudget
        from cpmap.gateway.upstream import estimate_tokens, used_tokens

        budget, name = TokenBudget(self.quota, self.cfg.chat_token_budget), self.served.name
        reserved = estimate_tokens(request["messages"]) + int(request["max_tokens"])
        window = await budget.reserve(client, name, reserved)
        try:
            doc: dict[str, Any] = await upstream.complete(request, name, rid)
        except BaseException:
            await budget.settle(client, name, -reserved)
            raise
        used = used_tokens(doc, request)
        await budget.settle(client, name, used - reserved)
        if window is not None:
            window = Window(window.name, window.limit, window.remaining + reserved - used,
                            window.reset_in)
        return doc, window

    async def _predict(self, x: np.ndarray, served: Served | None = None) -> np.ndarray:
        """The model's probabilities: in the worker pool under the timeout; inline on the
        event loop when this version's last call took under ``inline_predict_ms`` for at most
        ``inline_max_rows`` rows (the thread hop costs more than such a model: ~150 us here).
        Any slower call sends the next ones back to the pool; an upstream is never inline."""
        assert self._sem is not None  # noqa: S101 - set at startup
        served = served or self.served
        if self._sem.locked():
            raise Refusal(503, "too many concurrent requests; retry", "busy",
                          {"Retry-After": "1"})
        last = self._predict_s.get(served.digest)
        inline = (last is not None and last * 1e3 < self.cfg.inline_predict_ms
                  and len(x) <= self.cfg.inline_max_rows and served.model is not None
                  and getattr(served.model, "kind", "") != "upstream")
        if inline:
            started = time.perf_counter()
            probs = served.predict(x)
            took = time.perf_counter() - started
        else:
            async with self._sem:
                loop = asyncio.get_running_loop()
                try:
                    async with asyncio.timeout(self.cfg.timeout_s):
                        probs, took = await loop.run_in_executor(self.pool, _timed,
                                                                 served.predict, x)
                except TimeoutError:
                    self._predict_s[served.digest] = self.cfg.timeout_s
                    raise Refusal(503, "model timed out", "model-timeout") from None
                except UpstreamError:
                    raise Refusal(502, "upstream server failed", "upstream") from None
        if len(x) <= self.cfg.inline_max_rows:
            self._predict_s[served.digest] = took
        return probs

    def _log(self, rid: str, client: str | None, status: int, rows: int, inp: str | None,
             out: str | None, reason: str | None, probs: np.ndarray | None = None,
             extra: dict[str, Any] | None = None, inputs: np.ndarray | None = None) -> None:
        if self.predlog is not None:
            entry: dict[str, Any] = {"id": rid, "client": client, "status": status, "rows": rows,
                     "input": inp, "output": out, "reason": reason, "ts": round(time.time(), 3)}
            if extra:  # CP8's OOD score, flag, mean confidence and latency
                entry.update(extra)
            if probs is not None:  # CP9 joins delayed labels and tracks confidence from these
                entry["predictions"] = probs.argmax(axis=1).tolist()
                entry["confidence"] = probs.max(axis=1).round(4).tolist()
            if inputs is not None and self.keep_inputs:  # a reference: no copy, no work here
                entry["_inputs"] = inputs
            self.predlog.add(entry)


def _timed(fn: Callable[[np.ndarray], np.ndarray],
           x: np.ndarray) -> tuple[np.ndarray, float]:
    """``fn(x)`` and the seconds it took, measured in the worker thread (not the hop)."""
    started = time.perf_counter()
    out = fn(x)
    return out, time.perf_counter() - started


def _paths(served: Served) -> dict[str, str]:
    base, v = f"/v2/models/{served.name}", f"/v2/models/{served.name}/versions/{served.version}"
    return {base: "meta", v: "meta", f"{base}/infer": "infer", f"{v}/infer": "infer",
            f"{base}/ready": "model-ready", f"{v}/ready": "model-ready"}


def _allow(method: str, allowed: str) -> None:
    if method != allowed:
        raise Refusal(405, f"method not allowed (use {allowed})", "method",
                      {"Allow": allowed})
