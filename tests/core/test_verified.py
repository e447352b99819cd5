"""The raw payload search behind verified reads: no false negatives at any byte alignment."""

from __future__ import annotations

import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from cpmap.core.merkle import leaf_hash, root_of
from cpmap.core.verified import log_intact, mentioning

HEX = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


def _envelope(payload: bytes) -> bytes:
    return json.dumps({"payload": base64.b64encode(payload).decode(), "payloadType": "x",
                       "signatures": []}, sort_keys=True, separators=(",", ":")).encode()


@given(st.text(max_size=40), HEX, st.text(max_size=40), HEX)
def test_every_envelope_naming_the_digest_is_found(before: str, digest: str, after: str,
                                                   other: str) -> None:
    doc = {"subject": [{"digest": {"sha256": digest}, "name": before}], "x": after}
    envelopes = [_envelope(json.dumps({"subject": [{"digest": {"sha256": other}}]}).encode()),
                 _envelope(json.dumps(doc, ensure_ascii=False).encode())]
    found = mentioning(envelopes, [digest])
    assert 1 in found and found <= {0, 1}
    assert (0 in found) == (0 in mentioning(envelopes[:1], [digest]))  # positions, not bytes


def test_log_intact_rejects_an_edited_envelope() -> None:
    envs = [_envelope(b"a"), _envelope(b"b")]
    root = root_of(leaf_hash(e) for e in envs)
    rows = [(i, leaf_hash(e), e) for i, e in enumerate(envs)]
    assert log_intact(rows, 2, root)
    assert not log_intact([rows[0], (1, rows[1][1], _envelope(b"c"))], 2, root)
    assert not log_intact(rows[:1], 2, root)
    assert not log_intact([rows[1], rows[0]], 2, root)
