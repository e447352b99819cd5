"""Workspace secrets for pseudonymization: an HMAC key and an AES-256-GCM key.

Both live in ``.cpmap/keys/`` with mode 0600, are created on first use (exclusively, so two
processes racing create one key) and are never printed. The HMAC key makes ``hash`` pseudonyms
stable across files and runs of one workspace but unlinkable without the key (a plain SHA-256
of a phone number is reversed by enumerating all phone numbers); the AES key makes ``encrypt``
reversible by whoever holds the workspace.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from cpmap.errors import InputError, WorkspaceError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

HMAC_FILE = "privacy-hmac.key"
AES_FILE = "privacy-aes.key"
TOKEN_PREFIX = "enc:v1:"  # noqa: S105 - a token format marker, not a secret


def _key(ws: Workspace, name: str) -> bytes:
    path = ws.dir / "keys" / name
    if not path.exists():
        _create(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise WorkspaceError(f"{path}: key file is readable by others (mode {mode:o})",
                             hint=f"chmod 600 {path}")
    data = path.read_bytes()
    if len(data) != 32:
        raise WorkspaceError(f"{path}: expected a 32-byte key, found {len(data)} bytes")
    return data


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
        fh.flush()
        os.fsync(fh.fileno())


def hmac_key(ws: Workspace) -> bytes:
    return _key(ws, HMAC_FILE)


def aes_key(ws: Workspace) -> bytes:
    return _key(ws, AES_FILE)


_SHORT = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CARD",
          "US_SSN": "SSN", "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP", "DATE_TIME": "DATE",
          "FI_PERSONAL_IDENTITY_CODE": "FI_HETU"}


def pseudonym(key: bytes, entity: str, value: str, length: int = 16) -> str:
    """``<ENTITY>_<hex>``: keyed HMAC-SHA256 of the normalized value."""
    digest = hmac.new(key, f"{entity}\x00{normalize(entity, value)}".encode(),
                      hashlib.sha256).hexdigest()
    return f"{_SHORT.get(entity, entity)}_{digest[:length]}"


def normalize(entity: str, value: str) -> str:
    """Canonical form, so that ``4111-1111...`` and ``4111 1111...`` get one pseudonym."""
    value = value.strip()
    if entity in ("CREDIT_CARD", "US_SSN", "PHONE_NUMBER", "US_ITIN", "UK_NHS"):
        return "".join(c for c in value if c.isdigit() or c == "+")
    if entity == "IBAN_CODE":
        return value.replace(" ", "").upper()
    if entity == "EMAIL_ADDRESS":
        return value.lower()
    return value


def encrypt(key: bytes, entity: str, value: str) -> str:
    """An ``enc:v1:`` token: AES-256-GCM, random 96-bit nonce, entity as associated data."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    ct = AESGCM(key).encrypt(nonce, value.encode(), entity.encode())
    blob = base64.urlsafe_b64encode(nonce + ct).decode().rstrip("=")
    return f"{TOKEN_PREFIX}{entity}:{blob}"


def decrypt(key: bytes, token: str) -> str:
    """Reverse :func:`encrypt`; a token not made with this key is refused."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not token.startswith(TOKEN_PREFIX):
        raise InputError(f"{token[:24]!r}: not an {TOKEN_PREFIX} token")
    entity, _, blob = token[len(TOKEN_PREFIX):].partition(":")
    try:
        raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        return AESGCM(key).decrypt(raw[:12], raw[12:], entity.encode()).decode()
    except (InvalidTag, ValueError) as e:
        raise InputError("encrypted token does not decrypt with this workspace's key") from e


_TOKEN = re.compile(r"enc:v1:[A-Z_]+:[A-Za-z0-9_-]+")


def decrypt_text(key: bytes, text: str) -> tuple[str, int]:
    """Replace every ``enc:v1:`` token in ``text`` (a CSV, JSONL or text file) by its value."""
    count = 0

    def one(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return decrypt(key, m.group())

    return _TOKEN.sub(one, text), count
