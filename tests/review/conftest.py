"""A review workspace with two reviewers and queued digit items, served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

PASSWORD = "correct horse battery"


def seed(ws: Any, n: int = 4) -> list[int]:
    from cpmap.builtin import digits
    from cpmap.review.accounts import add_user
    from cpmap.review.queue import add

    add_user(ws, "alice", "reviewer", PASSWORD)
    add_user(ws, "bob", "reviewer", PASSWORD)
    x, y = digits()
    ids = []
    for i in range(n):
        got = add(ws, "digits", f"test:{i}", value=[float(v) for v in x[i]],
                  prediction=str((int(y[i]) + 1) % 10), confidence=0.41,
                  flags=["low confidence"], shape="8x8")
        assert got is not None
        ids.append(got)
    return ids


@pytest.fixture
def served(ws: Any) -> Iterator[tuple[str, Any, list[int]]]:
    from cpmap.gateway.server import run_in_thread
    from cpmap.review.web import build

    ids = seed(ws)
    running = run_in_thread(build(ws))
    try:
        yield running.url, ws, ids
    finally:
        running.stop()
