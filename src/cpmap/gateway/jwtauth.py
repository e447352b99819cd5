"""JWT bearer tokens (OIDC-style), verified by the rules of RFC 8725.

Algorithms are pinned to an asymmetric allowlist (never ``none``, never HMAC: a JWKS of public
keys must not become an HMAC secret), and each token's ``alg`` must match the family of the key
its ``kid`` names (RSA for RS/PS, EC for ES, OKP for EdDSA), so no algorithm confusion.
``iss``, ``aud``, ``exp`` and ``sub`` are required; ``exp``/``nbf`` get a small leeway. Scopes
come from a configured claim (a space-separated string or a list). Keys come from a JWKS file
or URL, read when the gateway starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cpmap.gateway.errors import GatewayError
from cpmap.gateway.keys import ApiKey

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


class JwtVerifier:
    def __init__(self, jwks: dict[str, Any], issuer: str, audience: str,
                 algorithms: tuple[str, ...], scope_claim: str = "scope",
                 leeway: float = 30.0, rate: str = "100/minute") -> None:
        import jwt

        bad = [a for a in algorithms if a not in FAMILY]
        if bad or not algorithms:
            raise GatewayError(f"[gateway] jwt_algorithms: {bad or 'none'} not allowed; use "
                               f"asymmetric ones: {', '.join(FAMILY)}")
        if not issuer or not audience:
            raise GatewayError("[gateway] jwt_issuer and jwt_audience are required with JWT")
        self.keys: dict[str | None, Any] = {}
        for raw in jwks["keys"]:
            if not isinstance(raw, dict) or raw.get("kty") not in ("RSA", "EC", "OKP"):
                continue  # symmetric ("oct") or unusable keys are never accepted
            try:
                self.keys[raw.get("kid")] = jwt.PyJWK.from_dict(raw)
            except jwt.PyJWTError as e:
                raise GatewayError(f"JWKS key {raw.get('kid')!r}: {e}") from e
        if not self.keys:
            raise GatewayError("JWKS holds no asymmetric public key")
        self.issuer, self.audience, self.algorithms = issuer, audience, algorithms
        self.scope_claim, self.leeway, self.rate = scope_claim, leeway, rate

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
