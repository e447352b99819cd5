"""Errors of the gateway: what the CLI reports (``GatewayError``) and what a request gets.

:class:`Refusal` never reaches a user as a traceback: the ASGI app turns it into a
``{"error": ...}`` body with its 4xx status (or 503 when a dependency it needs is down), and
counts it under ``reason`` in the metrics.
"""

from __future__ import annotations

from collections.abc import Mapping

from cpmap.errors import Error


class GatewayError(Error):
    """Bad gateway configuration or arguments (exit 2)."""


class ServeRefused(Error):
    """A version that may not be served: its manifest, digest or gate failed (exit 1)."""

    exit_code = 1

    def __init__(self, message: str, reasons: tuple[str, ...] = (), *,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reasons = reasons


class Refusal(Exception):  # noqa: N818 - a refused request, not a failure of the gateway
    """A request the gateway refuses: ``status`` (4xx/503), a one-line ``message``."""

    def __init__(self, status: int, message: str, reason: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = dict(headers or {})
