"""JWT bearer tokens: pinned asymmetric algorithms, issuer/audience/expiry, scopes from a
claim; alg=none, HMAC-with-the-public-key and other RFC 8725 attacks refused."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cpmap.gateway.errors import GatewayError
from cpmap.gateway.jwtauth import JwtVerifier

from .conftest import rows

ISS, AUD = "https://idp.example", "cpmap-gateway"


@pytest.fixture(scope="module")
def rsa_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwks(path: Path, key: Any) -> Path:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig"}]}))
    return path


def _token(key: Any, alg: str = "RS256", kid: str | None = "k1", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISS, "aud": AUD, "sub": "svc-a", "exp": now + 300, "iat": now,
            "scope": "infer:digits", **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=alg,
                      headers={"kid": kid} if kid else None)


def _b64(d: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def _hmac_token(secret: bytes, claims: dict[str, Any]) -> str:
    """The classic confusion attack: HS256 keyed with the server's public key bytes."""
    import hashlib
    import hmac

    signing = _b64({"alg": "HS256", "typ": "JWT", "kid": "k1"}) + "." + _b64(claims)
    sig = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return signing + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def test_tokens_over_http(gated: Any, serve: Any, tmp_path: Path, rsa_key: Any) -> None:
    gw = serve(jwt_jwks=str(_jwks(tmp_path / "jwks.json", rsa_key)), jwt_issuer=ISS,
               jwt_audience=AUD)
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    other_key = ec.generate_private_key(ec.SECP256R1())
    cases = {
        "valid": (_token(rsa_key), 200),
        "expired": (_token(rsa_key, exp=now - 120), 401),
        "not-yet-valid": (_token(rsa_key, nbf=now + 600), 401),
        "wrong-audience": (_token(rsa_key, aud="someone-else"), 401),
        "wrong-issuer": (_token(rsa_key, iss="https://evil.example"), 401),
        "no-exp": (_token(rsa_key, exp=None), 401),
        "alg-none": (_b64({"alg": "none", "kid": "k1"}) + "." + _b64(
            {"iss": ISS, "aud": AUD, "sub": "x", "exp": now + 300,
             "scope": "infer:digits"}) + ".", 401),
        "hmac-with-public-key": (_hmac_token(pem, {"iss": ISS, "aud": AUD, "sub": "x",
                                                   "exp": now + 300,
                                                   "scope": "infer:digits"}), 401),
        "other-signer": (_token(other_key, alg="ES256"), 401),
        "unknown-kid": (_token(rsa_key, kid="k2"), 401),
        "wrong-scope": (_token(rsa_key, scope="infer:other"), 403),
        "scope-list": (_token(rsa_key, scope=["infer:digits"]), 200),
    }
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        got = {name: c.post("/v2/models/digits/infer", json=rows(),
                            headers={"Authorization": f"Bearer {tok}"}).status_code
               for name, (tok, _) in cases.items()}
    assert got == {name: want for name, (_, want) in cases.items()}


def test_configuration_is_pinned(rsa_key: Any, tmp_path: Path) -> None:
    jwks = json.loads(_jwks(tmp_path / "j.json", rsa_key).read_text())
    for algs in (("none",), ("HS256",), ()):
        with pytest.raises(GatewayError, match="jwt_algorithms"):
            JwtVerifier(jwks, ISS, AUD, algs)
    with pytest.raises(GatewayError, match="issuer"):
        JwtVerifier(jwks, "", AUD, ("RS256",))
    with pytest.raises(GatewayError, match="no asymmetric"):
        JwtVerifier({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, ISS, AUD, ("RS256",))


class _Jwks:
    """A JWKS endpoint on 127.0.0.1 whose key set the test rotates; counts its fetches."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.doc: dict[str, Any] = {"keys": []}
        self.fetches, self.down = 0, False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                outer.fetches += 1
                body = json.dumps(outer.doc).encode()
                self.send_response(503 if outer.down else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"

    def publish(self, **keys: Any) -> None:
        self.doc = {"keys": [{**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key())),
                              "kid": kid, "use": "sig"} for kid, k in keys.items()]}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def idp() -> Any:
    server = _Jwks()
    yield server
    server.close()


def test_key_rotation_through_a_jwks_url(gated: Any, serve: Any, rsa_key: Any,
                                         idp: Any) -> None:
    old, new = rsa_key, rsa.generate_private_key(public_exponent=65537, key_size=2048)
    idp.publish(k1=old)
    gw = serve(jwt_jwks=idp.url, jwt_issuer=ISS, jwt_audience=AUD,
               jwt_jwks_min_refresh_s=0.3, auth_fail_rate="1000/minute")
    assert idp.fetches == 1

    def status(tok: str) -> int:
        return httpx.post(f"{gw.url}/v2/models/digits/infer", json=rows(), timeout=10,
                          headers={"Authorization": f"Bearer {tok}"}).status_code

    assert status(_token(old, kid="k1")) == 200
    time.sleep(0.4)
    idp.publish(k2=new)  # the provider rotates: k1 retired, k2 signs from now on
    assert status(_token(new, kid="k2")) == 200  # unknown kid: one refresh, then accepted
    assert idp.fetches == 2
    gw.app.jwt.min_refresh_s = 3600.0  # forged kids cannot make the gateway hammer the IdP
    assert status(_token(old, kid="k1")) == 401  # the retired key no longer verifies
    for i in range(20):
        assert status(_token(new, kid=f"forged-{i}")) == 401
    assert idp.fetches == 2
    gw.app.jwt.min_refresh_s = 0.3
    time.sleep(0.4)
    idp.down = True  # a provider outage keeps the last good key set
    assert status(_token(new, kid="k3")) == 401
    assert status(_token(new, kid="k2")) == 200
    assert gw.app.jwt.refresh_failures >= 1
