"""Value transformations for redaction: mask, hash, fake, drop, encrypt.

* ``mask``: every letter and digit becomes ``*``; cards, IBANs, SSNs and phones keep their last
  four digits (what a support agent may see), so the value no longer validates as PII.
* ``hash``: ``<ENTITY>_<16 hex>`` from HMAC-SHA256 with the workspace key: joins and counts
  still work, the same value gets the same pseudonym in every file of the workspace.
* ``fake``: a realistic Faker value seeded by the HMAC of the original, so the replacement is
  consistent too. It *looks* like PII by design (a re-scan will flag the shapes); the check that
  matters, that no original value survives, is done on every redaction.
* ``drop``: the value (text span) or the whole column is removed.
* ``encrypt``: an ``enc:v1:`` AES-GCM token that ``cpmap privacy decrypt`` reverses.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from typing import Any

from cpmap.privacy import keys as k

KEEP_LAST4 = frozenset({"CREDIT_CARD", "IBAN_CODE", "US_SSN", "PHONE_NUMBER"})
MAX_CACHE = 200_000  # cached replacements: a table of 10M distinct values must not keep them all


class Strategy(StrEnum):
    mask = "mask"
    hash = "hash"
    fake = "fake"
    drop = "drop"
    encrypt = "encrypt"


def mask(entity: str, value: str) -> str:
    keep = 4 if entity in KEEP_LAST4 else 0
    out = []
    kept = 0
    for c in reversed(value):
        if c.isalnum():
            if kept < keep and c.isdigit():
                out.append(c)
                kept += 1
            else:
                out.append("*")
        else:
            out.append(c)
    return "".join(reversed(out))


_FAKERS: dict[str, str] = {
    "PERSON": "name", "EMAIL_ADDRESS": "safe_email", "PHONE_NUMBER": "phone_number",
    "US_SSN": "ssn", "CREDIT_CARD": "credit_card_number", "IBAN_CODE": "iban",
    "LOCATION": "city", "DATE_TIME": "date", "US_ITIN": "itin",
}


class Replacer:
    """Applies strategies with the workspace keys; caches so a repeated value is transformed
    once. The cache is bounded (emptied at :data:`MAX_CACHE` entries): every replacement is a
    deterministic function of the value, so forgetting one only costs recomputing it, while an
    unbounded cache would hold every distinct value of a large table in memory."""

    def __init__(self, hmac_key: bytes, aes_key: bytes | None = None) -> None:
        self._hmac = hmac_key
        self._aes = aes_key
        self._fake: Any = None
        self._cache: dict[tuple[str, str, str], str | None] = {}

    def __call__(self, strategy: Strategy, entity: str, value: str) -> str | None:
        """The replacement of ``value``; None means drop it."""
        if strategy is Strategy.drop:
            return None
        key = (strategy.value, entity, value)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if strategy is Strategy.mask:
            out = mask(entity, value)
        elif strategy is Strategy.hash:
            out = k.pseudonym(self._hmac, entity, value)
        elif strategy is Strategy.encrypt:
            if self._aes is None:
                raise ValueError("encrypt needs the AES key")
            out = k.encrypt(self._aes, entity, value)
        else:
            out = self._faked(entity, value)
        if strategy is not Strategy.encrypt:  # tokens carry a random nonce: never cache them
            if len(self._cache) >= MAX_CACHE:
                self._cache.clear()
            self._cache[key] = out
        return out

    def _faked(self, entity: str, value: str) -> str:
        if self._fake is None:
            from faker import Faker

            self._fake = Faker("en_US", use_weighting=False)
        seed = int.from_bytes(hmac.new(self._hmac, f"fake\x00{entity}\x00"
                                       f"{k.normalize(entity, value)}".encode(),
                                       hashlib.sha256).digest()[:8], "big")
        self._fake.seed_instance(seed)
        if entity == "IP_ADDRESS":
            return str(self._fake.ipv6() if ":" in value else self._fake.ipv4_public())
        method = _FAKERS.get(entity)
        if method is None:
            return k.pseudonym(self._hmac, entity, value)
        return str(getattr(self._fake, method)())
