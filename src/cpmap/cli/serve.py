"""``cpmap serve NAME[@VERSION|:ALIAS]``: the CP7 inference gateway for one gated version.

Nothing listens until the version's signed manifest and artifact digest verify and the gate
passes; a refused version exits 1 with the gate's reasons on stderr.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any

import typer

from cpmap.cli.common import WorkspaceOpt, stderr_console
from cpmap.core.refs import Ref


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    ref: Annotated[str | None, typer.Argument(help="NAME (its production stage), "
                                              "NAME@VERSION or NAME:ALIAS.")] = None,
    host: Annotated[str, typer.Option(help="Address to bind (default loopback only).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes (share limits only with "
                                         "CPMAP_REDIS_URL).", min=1, max=64)] = 1,
    image_format: Annotated[list[str] | None, typer.Option(
        "--image-format", help="Accepted image format for image models (JPEG, PNG); repeat. "
        "Default: both.")] = None,
    upstream: Annotated[str | None, typer.Option(
        help="Put the gateway in front of this server (http://127.0.0.1:9000).")] = None,
    name: Annotated[str | None, typer.Option(help="Model name at the upstream.")] = None,
    upstream_kind: Annotated[str, typer.Option(
        help="oip (Open Inference Protocol v2) or openai (/v1/chat/completions).")] = "oip",
    upstream_model: Annotated[str | None, typer.Option(
        help="Model name to ask an openai upstream for (default: --name).")] = None,
    metrics_port: Annotated[int | None, typer.Option(
        help="Also serve /metrics without credentials on this 127.0.0.1 port.", min=1,
        max=65535)] = None,
    review: Annotated[bool, typer.Option(
        "--review", help="Also serve the CP10 review queue at /review (its own logins, CSRF "
        "and CSP; also [review] mount = true).")] = False,
    unsafe_allow_ungated: Annotated[bool, typer.Option(
        "--unsafe-allow-ungated", help="Serve even if the gate fails (warns; recorded as "
        "evidence).")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve a model version over the Open Inference Protocol v2, behind the CP7 controls."""
    from cpmap.core.workspace import open_workspace
    from cpmap.gateway import config
    from cpmap.gateway.errors import ServeRefused
    from cpmap.gateway.server import serve_forever, serve_workers

    err = stderr_console()
    ws = open_workspace(workspace)
    formats = tuple(f.upper() for f in image_format) if image_format else None
    cfg = config.load(ws, image_formats=formats)
    if unsafe_allow_ungated:
        err.print("[yellow]warning[/]: --unsafe-allow-ungated: a version that fails the gate "
                  "will be served anyway; this is recorded as CP7 evidence")
    if not _loopback(host):
        err.print(f"[yellow]warning[/]: binding {host}: reachable beyond this machine")
    from cpmap.gateway.server import free_socket

    if metrics_port is not None and workers > 1:
        from cpmap.gateway.errors import GatewayError

        raise GatewayError("--metrics-port counts one process: use the metrics scope with "
                           "--workers")
    review = review or bool(ws.setting("review", "mount", False))
    if review and workers > 1:
        from cpmap.gateway.errors import GatewayError

        raise GatewayError("--review serves the queue from one process: drop --workers, or "
                           "run `cpmap review serve` beside the workers")
    free_socket(host, port).close()  # a port we cannot bind fails now, before any evidence
    if metrics_port is not None:
        free_socket("127.0.0.1", metrics_port).close()
    try:
        app = _build(ws, ref, cfg, unsafe_allow_ungated, upstream, name, upstream_kind,
                     upstream_model, workers)
    except ServeRefused as e:
        for reason in e.reasons:
            err.print(f"  {reason}", markup=False, highlight=False)
        raise
    s = app.served
    if not s.gate_passed:
        err.print(f"[yellow]warning[/]: serving {s.ref} although its gate fails:", )
        for reason in s.reasons:
            err.print(f"  {reason}", markup=False, highlight=False)
    err.print(f"serving {s.ref} sha256:{s.digest[:12]} on http://{host}:{port} "
              f"(budget {app.plan.default_queries}/{app.plan.window}, default output "
              f"{app.plan.default_output}; limits in "
              f"{'Redis' if cfg.redis_url else 'memory'})", markup=False, highlight=False)
    if metrics_port is not None:
        from cpmap.gateway.metrics import MetricsApp
        from cpmap.gateway.server import run_in_thread

        run_in_thread(MetricsApp(app.metrics), "127.0.0.1", metrics_port)
        err.print(f"metrics on http://127.0.0.1:{metrics_port}/metrics", markup=False)
    if workers > 1:
        assert ref is not None  # noqa: S101 - checked by _build
        if not cfg.redis_url:
            err.print("[yellow]warning[/]: several workers without CPMAP_REDIS_URL: each "
                      "counts limits and budgets on its own")
        ws_path = str(Path(ws.root))
        import os

        os.environ["CPMAP_WORKSPACE"] = ws_path
        serve_workers(ref, host, port, workers, unsafe_allow_ungated)
        return
    _canary(ws, app, err)
    serve_forever(_with_review(ws, app, err, host, port) if review else app, host, port)


def _with_review(ws: Any, app: Any, err: Any, host: str, port: int) -> Any:
    """CP10: the review queue mounted at /review on the gateway's port."""
    from cpmap.gateway.mount import REVIEW_PREFIX, mount_review

    err.print(f"review queue on http://{host}:{port}{REVIEW_PREFIX}/", markup=False)
    return mount_review(ws, app)


def _canary(ws: Any, app: Any, err: Any) -> None:
    """CP10: route the share of clients of an active rollout to its candidate."""
    from cpmap.retrain.rollout import attach

    canary = attach(app, ws) if hasattr(app, "canary") else None
    if canary is not None:
        err.print(f"canary {canary.candidate.ref}: {canary.share:.0%} of clients (sticky)",
                  markup=False)


def _build(ws: object, ref: str | None, cfg: object, ungated: bool, upstream: str | None,
           name: str | None, kind: str, upstream_model: str | None, workers: int) -> Any:
    from cpmap.gateway.errors import GatewayError
    from cpmap.gateway.server import build, build_upstream

    if upstream is None:
        if ref is None:
            raise GatewayError("give the model to serve: NAME, NAME@VERSION or NAME:ALIAS")
        return build(ws, ref, cfg, allow_ungated=ungated)  # type: ignore[arg-type]
    if workers > 1:
        raise GatewayError("--workers applies to local models, not to --upstream")
    model = name or (Ref.parse(ref, aliases=True).name if ref else None)
    if model is None:
        raise GatewayError("--upstream needs --name (the model's name at the upstream)")
    return build_upstream(ws, upstream, model, kind, ref, cfg,  # type: ignore[arg-type]
                          allow_ungated=ungated, upstream_model=upstream_model)
