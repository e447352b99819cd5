"""Building a gateway for a version, and running it on uvicorn (foreground or in a thread).

:func:`build` is everything ``cpmap serve`` does before a port opens: load and gate the version
(:mod:`~cpmap.gateway.served`), choose the query budget from CP5 evidence, record both as CP7
evidence, load the API keys. :func:`run_in_thread` serves it on a free 127.0.0.1 port and
returns a handle with ``.url`` and ``.stop()`` (tests, the demo, ``gateway check``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cpmap.core.evidence import record
from cpmap.gateway import evidence as ev
from cpmap.gateway.errors import GatewayError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.gateway.app import Gateway
    from cpmap.gateway.config import GatewayConfig

log = logging.getLogger("cpmap.gateway")


def build(ws: Workspace, ref: str, cfg: GatewayConfig | None = None, *,
          allow_ungated: bool = False, record_evidence: bool = True) -> Gateway:
    """A ready gateway for ``ref`` (verified, gated), or :class:`ServeRefused`."""
    from cpmap.gateway import config, served

    cfg = cfg or config.load(ws)
    srv = served.load(ws, ref, allow_ungated=allow_ungated, margin=cfg.range_margin)
    return _assemble(ws, srv, cfg, allow_ungated, record_evidence,
                     reloader=lambda: served.load(ws, ref, allow_ungated=allow_ungated,
                                                  margin=cfg.range_margin))


def build_upstream(ws: Workspace, base: str, name: str, kind: str = "oip",
                   ref: str | None = None, cfg: GatewayConfig | None = None, *,
                   allow_ungated: bool = False, upstream_model: str | None = None,
                   record_evidence: bool = True) -> Gateway:
    """The same controls in front of an OIP v2 or OpenAI-compatible server at ``base``."""
    import hashlib

    from cpmap.gateway import config, served
    from cpmap.gateway.errors import ServeRefused
    from cpmap.gateway.upstream import ChatLimits, ChatUpstream

    cfg = cfg or config.load(ws)
    if kind == "oip":
        srv = served.load_upstream(ws, base, name, ref, allow_ungated=allow_ungated,
                                   margin=cfg.range_margin, timeout=cfg.timeout_s)
        return _assemble(ws, srv, cfg, allow_ungated, record_evidence)
    if kind != "openai":
        raise GatewayError(f"--upstream-kind {kind!r}: use oip or openai")
    if not allow_ungated:  # the registry holds classifiers; a chat model is never gated here
        raise ServeRefused(f"{name}: a chat upstream is not a gated version", (
            "not registered",), hint="--unsafe-allow-ungated serves it (recorded)")
    digest = hashlib.sha256(f"upstream:{base}/v1/chat/completions#{name}".encode()).hexdigest()
    spec = served.InputSpec("messages", 1, 0.0, 0.0, (0.0, 0.0), None)
    srv = served.Served(name, 0, digest, None, spec, (), False,  # type: ignore[arg-type]
                        ("chat upstream: no gated version",))
    chat = (ChatUpstream(base, upstream_model or name, cfg.timeout_s), ChatLimits())
    return _assemble(ws, srv, cfg, allow_ungated, record_evidence, chat=chat)


def _assemble(ws: Workspace, srv: Any, cfg: GatewayConfig, allow_ungated: bool,
              record_evidence: bool, reloader: Any = None, chat: Any = None) -> Gateway:
    from cpmap.gateway import budget, openapi
    from cpmap.gateway.app import Gateway
    from cpmap.gateway.keys import KeyRing, hashing_key
    from cpmap.gateway.predlog import PredictionLog
    from cpmap.gateway.quota import Quota

    plan = budget.plan(ws, srv.digest, cfg.default_budget, cfg.budget_safety, cfg.budget_window)
    if record_evidence:
        settings = _settings(cfg, plan)
        record(ev.serve(srv.ref, srv.digest, srv.gate_passed, allow_ungated and
                        not srv.gate_passed, srv.reasons, settings), ws)
        record(ev.budget(srv.ref, srv.digest, plan.default_queries, plan.window, plan.reason,
                         str(plan.default_output), plan.source_entry), ws)
    ring = KeyRing(hashing_key(ws))
    ring.load(ws)
    namespace = f"cpmap:{ws.signing_key.keyid[:16]}"

    def fail_open(error: str) -> None:
        record(ev.alert(srv.ref, srv.digest, "limits-fail-open", f"rate-limit store failed "
                        f"({error}); serving without limits (fail_open)"), ws)

    def spent(client: str) -> None:
        _alert_once(ws, srv.ref, srv.digest, client)

    quota = Quota(namespace, cfg.global_rate, cfg.auth_fail_rate, cfg.redis_url, cfg.fail_open,
                  fail_open, cfg.redis_timeout_s)
    images = [f"image/{f.lower()}" for f in cfg.image_formats] if srv.spec.image_shape else []
    doc = (openapi.chat_document(srv.name) if chat is not None else
           openapi.document(srv.name, srv.version, srv.spec, cfg.max_batch, images))
    log_ = PredictionLog(ws, srv.ref, srv.digest, cfg.predlog_batch, cfg.predlog_interval_s)
    app = Gateway(srv, cfg, ring, quota, plan, doc, predlog=log_,
                  refresh=lambda: ring.load(ws), on_budget_spent=spent, jwt=_jwt(cfg),
                  reloader=reloader, chat=chat)
    from cpmap.monitor.live import attach

    attach(ws, app)  # CP8: OOD scores, detectors, output filters, per [monitoring]
    from cpmap.drift.live import attach as attach_cp9

    attach_cp9(ws, app)  # CP9: input sampling, stream drift detectors (log writer thread)
    return app


def _jwt(cfg: GatewayConfig) -> Any:
    if not cfg.jwt_jwks:
        return None
    from cpmap.gateway.jwtauth import JwtVerifier, read_jwks

    return JwtVerifier(read_jwks(cfg.jwt_jwks), cfg.jwt_issuer, cfg.jwt_audience,
                       cfg.jwt_algorithms, cfg.jwt_scope_claim, cfg.jwt_leeway_s,
                       cfg.default_rate, source=cfg.jwt_jwks,
                       min_refresh_s=cfg.jwt_jwks_min_refresh_s,
                       max_age_s=cfg.jwt_jwks_max_age_s)


_ALERTED: set[tuple[str, str, str]] = set()


def _alert_once(ws: Workspace, ref: str, digest: str, client: str) -> None:
    """A CP8 alert the first time a client spends its budget (per process and day)."""
    day = time.strftime("%Y-%m-%d", time.gmtime())
    if (ref, client, day) in _ALERTED:
        return
    _ALERTED.add((ref, client, day))
    threading.Thread(target=record, args=(ev.alert(ref, digest, "budget-spent",
                     f"client {client} spent its query budget on {ref}",
                     {"client": client}), ws), daemon=True).start()


def _settings(cfg: GatewayConfig, plan: Any) -> dict[str, Any]:
    from dataclasses import asdict

    out = {k: v for k, v in asdict(cfg).items() if k != "redis_url"}
    out["limits_backend"] = "redis" if cfg.redis_url else "memory"
    out["default_output"] = str(plan.default_output)
    out["image_formats"] = list(cfg.image_formats)
    return out


def free_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A bound socket for uvicorn. Its protocol is named (IPPROTO_TCP): accepted sockets
    inherit it, and asyncio sets TCP_NODELAY only on sockets whose ``proto`` says TCP; with
    ``proto`` 0 every response waited on Nagle and delayed ACKs (~40 ms: 350 requests/s where
    the same app answers 3,500)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise GatewayError(f"{host}:{port}: cannot listen: {e.strerror}") from e
    return sock


def uvicorn_config(app: Any, **kw: Any) -> Any:
    import uvicorn

    return uvicorn.Config(app, log_level="warning", server_header=False, access_log=False,
                          lifespan="on", timeout_keep_alive=5, limit_concurrency=1024,
                          h11_max_incomplete_event_size=16 * 1024, **kw)


@dataclass
class Running:
    """A gateway serving in a background thread."""

    url: str
    app: Any
    server: Any
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def run_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0,
                  timeout: float = 20.0) -> Running:
    """Serve ``app`` on ``host:port`` (0: a free port) in a thread; wait until it listens."""
    import uvicorn

    sock = free_socket(host, port)
    server = uvicorn.Server(uvicorn_config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="cpmap-gateway")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise GatewayError(f"{host}:{sock.getsockname()[1]}: gateway did not start")
        time.sleep(0.02)
    return Running(f"http://{host}:{sock.getsockname()[1]}", app, server, thread)


def serve_forever(app: Any, host: str, port: int) -> None:
    import uvicorn

    server = uvicorn.Server(uvicorn_config(app))
    server.run(sockets=[free_socket(host, port)])


SERVE_ENV = "CPMAP_GATEWAY_SERVE_REF"
UNGATED_ENV = "CPMAP_GATEWAY_SERVE_UNGATED"


def from_env() -> Gateway:
    """uvicorn's app factory for ``--workers N``: each worker verifies and gates again."""
    import os

    from cpmap.core.workspace import open_workspace

    ws = open_workspace(os.environ.get("CPMAP_WORKSPACE") or None)
    return build(ws, os.environ[SERVE_ENV], allow_ungated=os.environ.get(UNGATED_ENV) == "1",
                 record_evidence=False)


def serve_workers(ref: str, host: str, port: int, workers: int, ungated: bool) -> None:
    """Several worker processes (uvicorn's supervisor); limits shared only through Redis."""
    import os

    import uvicorn

    os.environ[SERVE_ENV] = ref
    os.environ[UNGATED_ENV] = "1" if ungated else "0"
    uvicorn.run("cpmap.gateway.server:from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning", server_header=False, access_log=False)
