"""JWT bearer tokens (OIDC-style), verified by the rules of RFC 8725.

Algorithms are pinned to an asymmetric allowlist (never ``none``, never HMAC: a JWKS of public
keys must not become an HMAC secret), and each token's ``alg`` must match the family of the key
its ``kid`` names (RSA for RS/PS, EC for ES, OKP for EdDSA), so no algorithm confusion.
``iss``, ``aud``, ``exp`` and ``sub`` are required; ``exp``/``nbf`` get a small leeway. Scopes
come from a configured claim (a space-separated string or a list).

Keys come from a JWKS file or URL, read when the gateway starts and again to follow key
rotation: when a token names a ``kid`` the set does not hold (the identity provider published
a new key), and when the set is older than ``max_age_s``. Refreshes are rate-limited (at most
one per ``min_refresh_s``, however many unknown ``kid`` values arrive, so forged tokens cannot
make the gateway hammer the provider), run off the event loop, and share one fetch between
concurrent requests; the fetched set replaces the old one (a retired key stops working), and a
failed fetch keeps the last good set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from cpmap.gateway.errors import GatewayError
from cpmap.gateway.keys import ApiKey

log = logging.getLogger("cpmap.gateway")
FAMILY = {"RS256": "RSA", "RS384": "RSA", "RS512": "RSA", "PS256": "RSA", "PS384": "RSA",
          "PS512": "RSA", "ES256": "EC", "ES384": "EC", "ES512": "EC", "EdDSA": "OKP"}


def read_jwks(source: str) -> dict[str, Any]:
    try:
        if source.startswith(("http://", "https://")):
            import httpx

            text = httpx.get(source, timeout=5).raise_for_status().text
        else:
            text = Path(source).read_text()
        doc = json.loads(text)
    except (OSError, ValueError) as e:
        raise GatewayError(f"{source}: cannot read the JWKS ({type(e).__name__})") from e
    except Exception as e:  # noqa: BLE001 - httpx errors of every kind
        raise GatewayError(f"{source}: cannot fetch the JWKS ({type(e).__name__})") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise GatewayError(f"{source}: not a JWKS (no 'keys' list)")
    return doc


def parse_keys(jwks: dict[str, Any]) -> dict[str | None, Any]:
    """The asymmetric public keys of a JWKS by ``kid`` (symmetric ones never)."""
    import jwt

    keys: dict[str | None, Any] = {}
    for raw in jwks["keys"]:
        if not isinstance(raw, dict) or raw.get("kty") not in ("RSA", "EC", "OKP"):
            continue  # symmetric ("oct") or unusable keys are never accepted
        try:
            keys[raw.get("kid")] = jwt.PyJWK.from_dict(raw)
        except jwt.PyJWTError as e:
            raise GatewayError(f"JWKS key {raw.get('kid')!r}: {e}") from e
    if not keys:
        raise GatewayError("JWKS holds no asymmetric public key")
    return keys


class JwtVerifier:
    def __init__(self, jwks: dict[str, Any], issuer: str, audience: str,
                 algorithms: tuple[str, ...], scope_claim: str = "scope",
                 leeway: float = 30.0, rate: str = "100/minute", *, source: str = "",
                 min_refresh_s: float = 60.0, max_age_s: float = 3600.0) -> None:
        bad = [a for a in algorithms if a not in FAMILY]
        if bad or not algorithms:
            raise GatewayError(f"[gateway] jwt_algorithms: {bad or 'none'} not allowed; use "
                               f"asymmetric ones: {', '.join(FAMILY)}")
        if not issuer or not audience:
            raise GatewayError("[gateway] jwt_issuer and jwt_audience are required with JWT")
        self.keys = parse_keys(jwks)
        self.issuer, self.audience, self.algorithms = issuer, audience, algorithms
        self.scope_claim, self.leeway, self.rate = scope_claim, leeway, rate
        self.source, self.min_refresh_s, self.max_age_s = source, min_refresh_s, max_age_s
        self.fetched_at = self.tried_at = time.monotonic()
        self.refreshes = self.refresh_failures = 0
        self._lock: asyncio.Lock | None = None

    def refresh(self) -> bool:
        """Fetch the JWKS again (blocking); on any failure keep the current keys."""
        self.tried_at = time.monotonic()
        try:
            keys = parse_keys(read_jwks(self.source))
        except GatewayError as e:
            self.refresh_failures += 1
            log.warning("JWKS refresh failed, keeping %d key(s): %s", len(self.keys), e)
            return False
        self.keys, self.fetched_at = keys, time.monotonic()
        self.refreshes += 1
        return True

    def _due(self, kid: Any) -> bool:
        if not self.source:
            return False
        now = time.monotonic()
        if now - self.tried_at < self.min_refresh_s:
            return False
        return (kid is not None and kid not in self.keys) or now - self.fetched_at > \
            self.max_age_s

    async def authenticate(self, token: str) -> ApiKey | None:
        """:meth:`verify`, after refreshing the key set first when the token names an
        unknown ``kid`` or the set is old (rate-limited, one fetch for concurrent callers)."""
        import jwt

        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        if self._due(kid):
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self._due(kid):  # not refreshed by the request that held the lock
                    await asyncio.to_thread(self.refresh)
        return self.verify(token)

    def _key(self, header: dict[str, Any]) -> Any:
        alg = header.get("alg")
        if alg not in self.algorithms:
            return None
        kid = header.get("kid")
        key = self.keys.get(kid) if kid is not None else (
            next(iter(self.keys.values())) if len(self.keys) == 1 else None)
        if key is None or key.key_type != FAMILY[str(alg)]:
            return None
        return key

    def verify(self, token: str) -> ApiKey | None:
        import jwt

        try:
            key = self._key(jwt.get_unverified_header(token))
            if key is None:
                return None
            alg = jwt.get_unverified_header(token)["alg"]
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=self.audience,
                                issuer=self.issuer, leeway=self.leeway,
                                options={"require": ["exp", "iss", "aud", "sub"]})
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            return None
        raw = claims.get(self.scope_claim) or ""
        scopes = raw.split() if isinstance(raw, str) else [str(s) for s in raw
                                                          if isinstance(s, str)]
        sub = str(claims["sub"])[:100]
        return ApiKey(f"jwt:{sub}", sub, "", tuple(scopes), self.rate, "", "", "")
