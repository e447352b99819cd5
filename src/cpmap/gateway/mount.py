"""Other ASGI apps served by the gateway's port under a path prefix (the review queue at
``/review``), without touching the gateway's own request path.

:class:`Mounted` sends HTTP requests for ``PREFIX`` and ``PREFIX/...`` to the mounted app with
``root_path`` set to the prefix (the app builds its links, redirects and cookie paths from it;
Starlette routes on the path below it) and everything else, lifespan included, to the gateway.
The mounted app keeps its own authentication, CSRF tokens and Content-Security-Policy: the
gateway's API keys never reach it, and its session cookies are scoped to the prefix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from cpmap.core.workspace import Workspace

REVIEW_PREFIX = "/review"


class Mounted:
    """``app`` with ``sub`` mounted at ``prefix``; attribute reads fall through to ``app``
    (``.served``, ``.plan``, ``.canary``: callers keep treating it as the gateway)."""

    def __init__(self, app: ASGIApp, prefix: str, sub: ASGIApp) -> None:
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"mount prefix {prefix!r}: must start and not end with /")
        self.app, self.prefix, self.sub = app, prefix, sub

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and (path == self.prefix
                                        or path.startswith(self.prefix + "/")):
            root = str(scope.get("root_path", "")) + self.prefix
            inner = {**scope, "root_path": root,
                     "path": path if path != self.prefix else self.prefix + "/"}
            await self.sub(inner, receive, send)
            return
        await self.app(scope, receive, send)


def mount_review(ws: Workspace, gateway: ASGIApp, *, secure_cookies: bool = True,
                 prefix: str = REVIEW_PREFIX) -> Mounted:
    """The gateway with ``ws``'s review queue (:mod:`cpmap.review.web`) at ``prefix``."""
    from cpmap.review.web import build

    return Mounted(gateway, prefix, build(ws, secure_cookies=secure_cookies))
