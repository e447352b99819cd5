"""The key ring under concurrent loads: a refresh that read an older snapshot never replaces
a newer key set (it would drop a new key, or bring back a revoked one, until the next one)."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from cpmap.core.verified import IntegrityError, row_error
from cpmap.gateway import keys


def _ring_with(monkeypatch: pytest.MonkeyPatch, sets: dict[str, list[Any]],
               hold: threading.Event) -> keys.KeyRing:
    def fake(ws: str, include_revoked: bool = True) -> list[Any]:
        if ws == "stale":
            hold.wait(10)  # read before the newer load, done after it
        if ws == "tampered":
            raise row_error("gateway_keys", "key_id 'x'", "edited")
        return sets[ws]

    monkeypatch.setattr(keys, "list_keys", fake)
    return keys.KeyRing(b"s" * 32)


def test_a_stale_refresh_does_not_replace_a_newer_set(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = SimpleNamespace(key_id="old"), SimpleNamespace(key_id="new")
    hold = threading.Event()
    ring = _ring_with(monkeypatch, {"stale": [old], "fresh": [old, new]}, hold)
    refresh = threading.Thread(target=ring.load, args=("stale",))
    refresh.start()
    while ring._started < 1:  # the refresh has begun its read
        threading.Event().wait(0.001)
    ring.load("fresh")  # type: ignore[arg-type]
    hold.set()
    refresh.join(10)
    assert set(ring._by_id) == {"old", "new"}
    ring.load("stale")  # type: ignore[arg-type]  # a later load applies, whatever it holds
    assert set(ring._by_id) == {"old"}


def test_an_integrity_error_still_leaves_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = _ring_with(monkeypatch, {"fresh": [SimpleNamespace(key_id="k")]}, threading.Event())
    ring.load("fresh")  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):
        ring.load("tampered")  # type: ignore[arg-type]
    assert ring._by_id == {}
