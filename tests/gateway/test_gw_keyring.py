"""The key ring's refresh never replaces a newer key set with an older one."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest


def test_a_slow_refresh_does_not_drop_a_key_loaded_after_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cpmap.gateway import keys

    inside, release = threading.Event(), threading.Event()
    answers = iter([[], [SimpleNamespace(key_id="new", revoked_at=None)]])

    def list_keys(ws: Any, include_revoked: bool = False) -> list[Any]:
        got = next(answers)
        if not got:  # the periodic refresh: read before the key was created, slow to return
            inside.set()
            release.wait(10)
        return got

    monkeypatch.setattr(keys, "list_keys", list_keys)
    ring = keys.KeyRing(b"k" * 32)
    slow = threading.Thread(target=ring.load, args=(None,))
    slow.start()
    assert inside.wait(10)
    ring.load(None)  # type: ignore[arg-type]  # the caller's load right after creating "new"
    release.set()
    slow.join(10)
    assert set(ring._by_id) == {"new"}
