"""Signed tree heads in the C2SP formats: tlog-checkpoint text inside a signed note.

A checkpoint is three lines (origin, tree size, base64 root hash); the note adds a blank line and
one signature line per signer: an em dash, the key name, and base64 of the 4-byte key hash
followed by the Ed25519 signature of the text. Go's sumdb/note and the transparency-dev tooling
read the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cpmap.core.keys import PublicKey, SigningKey
from cpmap.errors import LedgerError

_DASH = "\u2014"
_ED25519 = b"\x01"


def note_key_hash(name: str, public: PublicKey) -> bytes:
    """The 4-byte key hash of the signed-note spec for an Ed25519 key."""
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public.raw).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    def sign(self, key: SigningKey, name: str) -> str:
        """Return the signed note text."""
        text = self.body()
        sig = key.sign(text.encode())
        blob = base64.b64encode(note_key_hash(name, key.public) + sig).decode()
        return f"{text}\n{_DASH} {name} {blob}\n"


def open_note(note: str, public: PublicKey, name: str, where: str) -> Checkpoint:
    """Verify a signed checkpoint note against ``public`` and parse it.

    Raises :class:`LedgerError` naming ``where`` if the note is malformed or not signed by the key.
    """
    text, sep, sigs = note.partition("\n\n")
    if not sep:
        raise LedgerError(f"{where}: checkpoint note has no signature block")
    text += "\n"
    want = note_key_hash(name, public)
    for line in sigs.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH or parts[1] != name:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            continue
        if blob[:4] == want and public.verify(blob[4:], text.encode()):
            return _parse_body(text, where)
    raise LedgerError(f"{where}: checkpoint signature does not verify with key {name!r}")


def _parse_body(text: str, where: str) -> Checkpoint:
    lines = text.split("\n")
    try:
        origin, size_s, root_s = lines[0], lines[1], lines[2]
        size = int(size_s)
        root = base64.b64decode(root_s, validate=True)
    except (IndexError, ValueError, binascii.Error) as e:
        raise LedgerError(f"{where}: malformed checkpoint body") from e
    if size < 0 or len(root) != 32 or not origin:
        raise LedgerError(f"{where}: malformed checkpoint body")
    return Checkpoint(origin, size, root)
