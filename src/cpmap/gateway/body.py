"""Reading and parsing a request body: capped while it streams, timed, then JSON or an image.

What the model sees and what the prediction log hashes come from here: the validated rows, or
the re-encoded image's pixels, with the SHA-256 of exactly that input.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from cpmap.gateway import images
from cpmap.gateway.errors import Refusal
from cpmap.gateway.validate import parse_infer

if TYPE_CHECKING:
    import numpy as np

    from cpmap.gateway.config import GatewayConfig
    from cpmap.gateway.served import InputSpec

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
IMAGE_TYPES = {"image/jpeg", "image/png", "application/octet-stream"}


def header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or ():
        if k == name:
            return bytes(v).decode("latin-1")
    return None


def credential(scope: Scope) -> str | None:
    """The presented key or token: ``Authorization: Bearer`` or ``X-API-Key``."""
    auth = header(scope, b"authorization")
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else ""
    return header(scope, b"x-api-key")


async def _body(scope: Scope, receive: Receive, cap: int) -> bytes:
    declared = header(scope, b"content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        raise Refusal(413 if declared.isdigit() else 400,
                      f"body larger than {cap} bytes" if declared.isdigit()
                      else "bad Content-Length", "body-too-large")
    chunks, size = [], 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise Refusal(400, "client disconnected", "disconnect")
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise Refusal(413, f"body larger than {cap} bytes", "body-too-large")
        chunks.append(chunk)
        if not msg.get("more_body"):
            return b"".join(chunks)


async def read_body(scope: Scope, receive: Receive, cfg: GatewayConfig) -> bytes:
    """The whole body, at most ``max_body_bytes`` (413), within ``timeout_s`` (408)."""
    try:  # a timer on this task (asyncio.timeout), not a task per request (wait_for)
        async with asyncio.timeout(cfg.timeout_s):
            return await _body(scope, receive, cfg.max_body_bytes)
    except TimeoutError:
        raise Refusal(408, "body not received in time", "body-timeout") from None


def parse_body(scope: Scope, body: bytes, spec: InputSpec, cfg: GatewayConfig,
               outputs: frozenset[str]) -> tuple[str | None, np.ndarray, str]:
    """(request id, rows, digest of what the model sees) from a JSON or image body."""
    ctype = (header(scope, b"content-type") or "application/json").split(";")[0].strip()
    ctype = ctype.lower()
    if ctype in IMAGE_TYPES:
        if spec.image_shape is None:
            raise Refusal(415, "this model takes JSON only", "unsupported-media")
        rows, digest = _image(body, ctype, spec, cfg)
        return None, rows, digest
    if ctype != "application/json":
        raise Refusal(415, "use application/json" + (
            " or an image" if spec.image_shape else ""), "unsupported-media")
    req = parse_infer(body, spec, cfg, outputs)
    if req.image is not None:
        rows, digest = _image(req.image, None, spec, cfg)
        return req.id, rows, digest
    assert req.x is not None  # noqa: S101 - parse_infer gives rows or an image
    return req.id, req.x, hashlib.sha256(req.x.tobytes()).hexdigest()


def _image(body: bytes, declared: str | None, spec: InputSpec,
           cfg: GatewayConfig) -> tuple[np.ndarray, str]:
    assert spec.image_shape is not None  # noqa: S101 - checked by the caller
    fmt = images.sniff(body, cfg.image_formats, declared)
    out = images.decode(body, fmt, spec.image_shape, spec.bounds, cfg.max_pixels)
    return out.pixels[None, :], hashlib.sha256(out.png).hexdigest()
