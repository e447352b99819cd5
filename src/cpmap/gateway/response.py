"""The gateway's response value: what a route returns and the ASGI sender writes.

Its own module so that the routes in other modules (the chat stream) build responses without
importing the app that calls them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

JSON = b"application/json"


@dataclass
class Response:
    status: int
    body: bytes
    content_type: bytes = JSON
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[bytes] | None = None  # a body sent as it comes (chat SSE)


def json_response(status: int, doc: Any, extra: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(doc, separators=(",", ":")).encode(), JSON, extra or {})
