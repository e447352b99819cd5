"""DSSE envelopes and signed-note checkpoints."""

from __future__ import annotations

import base64
import hashlib

import pytest

from cpmap.core import dsse
from cpmap.core.checkpoint import Checkpoint, note_key_hash, open_note
from cpmap.core.keys import SigningKey
from cpmap.errors import InputError, LedgerError, SignatureError


def test_pae_matches_spec_example() -> None:
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")


def test_envelope_roundtrip_and_tamper() -> None:
    key = SigningKey.generate()
    env = dsse.sign(b'{"a":1}', key)
    parsed = dsse.parse_envelope(env.to_json(), "x")
    assert parsed.verify([key.public]).keyid == key.keyid
    forged = dsse.Envelope(b'{"a":2}', env.payload_type, env.signatures)
    with pytest.raises(SignatureError):
        forged.verify([key.public])
    with pytest.raises(SignatureError):
        parsed.verify([SigningKey.generate().public])


@pytest.mark.parametrize("bad", [b"", b"[]", b'{"payload": "!!"}', b'{"payload":"", "payloadType"'
                                 b':1, "signatures": []}'])
def test_malformed_envelopes(bad: bytes) -> None:
    with pytest.raises(InputError):
        dsse.parse_envelope(bad, "bad.json")


def test_checkpoint_note_format_and_verification() -> None:
    key = SigningKey.generate("origin.example")
    cp = Checkpoint("origin.example", 7, hashlib.sha256(b"r").digest())
    note = cp.sign(key, "origin.example")
    body, sig = note.split("\n\n")
    assert body == f"origin.example\n7\n{base64.b64encode(cp.root).decode()}"
    assert sig.startswith("\u2014 origin.example ")
    blob = base64.b64decode(sig.split(" ")[2])
    assert blob[:4] == note_key_hash("origin.example", key.public)
    assert open_note(note, key.public, "origin.example", "t") == cp
    with pytest.raises(LedgerError):
        open_note(note.replace("\n7\n", "\n8\n"), key.public, "origin.example", "t")
    with pytest.raises(LedgerError):
        open_note(note, SigningKey.generate().public, "origin.example", "t")
