"""Artifacts evidence points at: plots and files kept content-addressed in the workspace.

Evidence stays small and signed; a plot is stored once under its SHA-256 and referenced from
the predicate's ``details["plots"]`` as ``{"title", "sha256"}``. The report embeds it from there,
so a plot in the report is exactly the one the signed evidence names.
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


def save_bytes(ws: Workspace, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    ws.put_object(data, digest)
    return digest


def save_plot(ws: Workspace, figure: Any, title: str) -> dict[str, str]:
    """Render a matplotlib figure to PNG, store it, and return its evidence reference."""
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(figure)
    return {"title": title, "sha256": save_bytes(ws, buf.getvalue()), "media_type": "image/png"}


def load_object(ws: Workspace, digest: str) -> bytes | None:
    """Bytes of a stored object, or None if it is missing or does not match its digest."""
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        return None
    path = ws.objects_dir / "sha256" / digest
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == digest else None


def figure() -> Any:
    """A new matplotlib figure on the non-interactive backend (no display here or in CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, _ax = plt.subplots(figsize=(5.2, 3.4))
    return fig
