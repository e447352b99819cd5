"""Fixtures of the fault campaign: a gated model in a workspace on a given store, its key,
and replicas as real processes (every one stopped after its test)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.conftest import model_bytes, register_gated  # noqa: F401 - shared fixture

from .procs import Replica


def _workspace(tmp_path: Path, url: str | None, monkeypatch: pytest.MonkeyPatch) -> Any:
    from cpmap.core.workspace import init

    if url:
        monkeypatch.setenv("CPMAP_DATABASE_URL", url)
    return init(tmp_path / "proj", "faults")


@pytest.fixture
def gated_ws(tmp_path: Path, model_bytes: bytes,  # noqa: F811
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str | None], Any]]:
    """make(url): a workspace on ``url`` (None: SQLite) holding digits@1, gated."""
    made: list[Any] = []

    def make(url: str | None = None) -> Any:
        ws = _workspace(tmp_path, url, monkeypatch)
        register_gated(ws, tmp_path, model_bytes)
        made.append(ws)
        return ws

    yield make
    for ws in made:
        ws.close()


@pytest.fixture
def replicas() -> Iterator[Callable[..., Replica]]:
    """start(ws, **env): a `cpmap serve` replica of the workspace, with CPMAP_* settings."""
    running: list[Replica] = []

    def start(ws: Any, **env: str) -> Replica:
        full = {k: v for k, v in os.environ.items() if k.startswith("CPMAP_")}
        full.update({"CPMAP_GATEWAY_KEY_REFRESH_S": "0.5", **env})
        r = Replica(Path(ws.root), full)
        running.append(r)
        return r.start()

    yield start
    for r in running:
        r.stop()
