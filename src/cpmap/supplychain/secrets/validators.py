"""Checks a matched value must pass to be the provider's token, beyond its regex.

A format with a checksum (GitHub's and npm's CRC32 suffix, age's bech32) or a structure (a JWT
header, a Discord bot token's base64 user id, a Basic credential's ``user:password``) is
checked here, so that a string of the right shape that the provider could never have issued is
not reported. Each function takes the matched secret and returns True when it is plausible.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib

_B62 = ("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_PRINTABLE = re.compile(r"[\x20-\x7e]+\Z")
# Documentation's stock passwords (scott/tiger...) in connection strings and curl examples.
DUMMY_PASSWORDS = frozenset({
    "tiger", "postgres", "password", "pass", "passwd", "pwd", "pw", "secret", "admin", "root",
    "test", "guest", "foo", "bar", "user", "username", "mysql", "changeme", "hunter2", "repo",
    "prefix", "demo", "sample", "default", "letmein", "qwerty", "pa55word", "p@ssw0rd"})


def base62(number: int, alphabet: str = _B62[0], width: int = 6) -> str:
    out = ""
    while number:
        number, digit = divmod(number, 62)
        out = alphabet[digit] + out
    return out.rjust(width, alphabet[0])


def crc32_suffix(secret: str) -> bool:
    """GitHub classic tokens (``ghp_``...) and npm tokens: prefix, 30 random base62 characters,
    then the CRC32 of those 30 in 6 base62 digits (GitHub's 2021 token format)."""
    body = secret.split("_", 1)[1]
    if len(body) != 36:
        return False
    crc = zlib.crc32(body[:30].encode())
    return any(base62(crc, alphabet) == body[30:] for alphabet in _B62)


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_"
                                if "-" in value or "_" in value else None, validate=True)
    except (binascii.Error, ValueError):
        return None


def jwt_header(token: str) -> bool:
    """The first segment decodes to a JSON object with ``alg``."""
    data = _b64(token.split(".", 1)[0])
    try:
        head = json.loads(data) if data else None
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(head, dict) and "alg" in head


def discord_bot(token: str) -> bool:
    """The first segment of a Discord bot token is the bot's user id (a snowflake) in base64."""
    data = _b64(token.split(".", 1)[0]) or b""
    return data.isdigit() and 17 <= len(data) <= 20


def basic_credential(value: str) -> bool:
    """``Authorization: Basic`` / Docker ``auth``: base64 of printable ``user:password``."""
    data = _b64(value)
    if not data:
        return False
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return False
    user, sep, password = text.partition(":")
    return bool(sep and _PRINTABLE.match(text) and len(password) >= 4 and user != password)


def user_password(value: str) -> bool:
    """``user:password`` given to curl: a real-looking password, not ``$TOKEN`` or ``admin``."""
    user, _, password = value.partition(":")
    return (len(password) >= 4 and password[0] not in "$%{<" and user != password
            and password.lower() not in DUMMY_PASSWORDS)


def pem_in_base64(value: str) -> bool:
    """kubeconfig ``client-key-data``: base64 of a PEM private key."""
    data = _b64(value)
    return bool(data) and b"PRIVATE KEY" in (data or b"")[:64]


def grafana_legacy(value: str) -> bool:
    """Grafana's legacy API keys are base64 JSON ``{"k": ..., "n": ..., "id": ...}``."""
    data = _b64(value)
    try:
        doc = json.loads(data) if data else None
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and "k" in doc


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i, g in enumerate(gen):
            chk ^= g if (top >> i) & 1 else 0
    return chk


def bech32(value: str) -> bool:
    """BIP-173 checksum (age secret keys are bech32 with the ``age-secret-key-`` prefix)."""
    low = value.lower()
    hrp, sep, data = low.rpartition("1")
    if not sep or len(data) < 6 or any(c not in _BECH32 for c in data):
        return False
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    return _bech32_polymod(expanded + [_BECH32.index(c) for c in data]) == 1


_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\Z")


def opaque(value: str) -> bool:
    """A token, not code: ``self.config.api_key`` or ``ANTHROPIC_API_KEY`` is a reference."""
    if _DOTTED.match(value):
        return False
    if any(c.isdigit() for c in value):
        return True
    # no digit: random mixed-case letters pass, NAME_LIKE_THIS and plainwords do not
    return "_" not in value and not value.islower() and not value.isupper()


def not_hex_only(value: str) -> bool:
    """Keys of a mixed alphabet that happen to be all hex digits are more often digests."""
    return not re.fullmatch(r"[0-9a-fA-F]+", value)
