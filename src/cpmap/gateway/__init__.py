"""CP7: the inference gateway. Serves only gated versions, behind API keys, rate limits,
query budgets sized from CP5's extraction evidence, strict input validation and hardened
outputs, over the Open Inference Protocol v2.

``build(ws, "NAME@VERSION")`` gives the ASGI app (refusing a version whose manifest, digest
or gate fails); ``run_in_thread(app)`` serves it on a free 127.0.0.1 port and returns a handle
with ``.url`` and ``.stop()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cpmap.gateway.server import Running, build, run_in_thread

__all__ = ["Running", "build", "run_in_thread"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from cpmap.gateway import server

        return getattr(server, name)
    raise AttributeError(f"module 'cpmap.gateway' has no attribute {name!r}")
