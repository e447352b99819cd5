"""DSSE envelopes (Dead Simple Signing Envelope, v1) with the in-toto payload type.

We implement PAE ourselves (a dozen lines, fully specified) rather than pulling
securesystemslib for it; the envelope JSON is the standard one, so in-toto and sigstore tools
read ours and we read theirs.

**Key ids.** A signature's ``keyid`` is a hint naming the key, not part of what is signed
(PAE covers only the payload type and payload). cpmap writes the SHA-256 of the raw 32-byte
Ed25519 public key, hex (:func:`cpmap.core.keys.key_id`); securesystemslib's default is the
SHA-256 of the key's canonical JSON (:func:`sslib_keyid`). Existing ledgers hold the first,
so cpmap keeps writing it, and accepts either when verifying. An auditor who verifies with
securesystemslib gives the key cpmap's id (docs/ledger.md has the tested one-line recipe).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cpmap.core.keys import PublicKey, SigningKey
from cpmap.errors import InputError, SignatureError

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    t = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(t), t, len(payload), payload)


def sslib_keyid(key: PublicKey) -> str:
    """securesystemslib's default key id for an Ed25519 key (``SSlibKey.from_crypto``):
    SHA-256 of the canonical JSON ``{"keytype","keyval":{"public": hex},"scheme"}``."""
    doc = {"keytype": "ed25519", "keyval": {"public": key.raw.hex()}, "scheme": "ed25519"}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
                          ).hexdigest()


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A signed payload. ``payload`` holds the exact bytes that were signed."""

    payload: bytes
    payload_type: str
    signatures: tuple[Signature, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "payload": base64.b64encode(self.payload).decode(),
            "payloadType": self.payload_type,
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()}
                for s in self.signatures
            ],
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    def statement(self) -> dict[str, Any]:
        """Decode the payload as JSON (an in-toto statement for our envelopes)."""
        try:
            value = json.loads(self.payload)
        except ValueError as e:
            raise InputError("envelope payload is not JSON") from e
        if not isinstance(value, dict):
            raise InputError("envelope payload is not a JSON object")
        return value

    def verified_by(self, keys: list[PublicKey]) -> PublicKey | None:
        """Return the first of ``keys`` that produced a valid signature, else None.

        A signature is matched to a key by cpmap's key id or by securesystemslib's default
        one, so envelopes that ecosystem tools signed with a cpmap key verify too.
        """
        message = pae(self.payload_type, self.payload)
        by_id = {k.keyid: k for k in keys} | {sslib_keyid(k): k for k in keys}
        for s in self.signatures:
            key = by_id.get(s.keyid)
            if key is not None and key.verify(s.sig, message):
                return key
        return None

    def verify(self, keys: list[PublicKey], source: str = "envelope") -> PublicKey:
        """Return the verifying key or raise :class:`SignatureError`."""
        key = self.verified_by(keys)
        if key is None:
            ids = ", ".join(s.keyid[:16] for s in self.signatures) or "none"
            raise SignatureError(f"{source}: no valid signature from a trusted key (keyids: {ids})")
        return key


def sign(payload: bytes, key: SigningKey, payload_type: str = INTOTO_PAYLOAD_TYPE) -> Envelope:
    sig = key.sign(pae(payload_type, payload))
    return Envelope(payload, payload_type, (Signature(key.keyid, sig),))


def parse_envelope(data: bytes | str | dict[str, Any], source: str) -> Envelope:
    """Parse envelope JSON, raising :class:`InputError` naming ``source`` on any malformation."""
    try:
        obj = data if isinstance(data, dict) else json.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("not an object")
        payload = base64.b64decode(obj["payload"], validate=True)
        payload_type = obj["payloadType"]
        sigs = tuple(
            Signature(str(s["keyid"]), base64.b64decode(s["sig"], validate=True))
            for s in obj["signatures"]
        )
        if not isinstance(payload_type, str):
            raise ValueError("payloadType is not a string")
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise InputError(f"{source}: not a DSSE envelope ({e})") from e
    except RecursionError as e:  # [[[[...]]]] 100k deep: bad input, not an internal error
        raise InputError(f"{source}: not a DSSE envelope (JSON nested too deeply)") from e
    return Envelope(payload, payload_type, sigs)
