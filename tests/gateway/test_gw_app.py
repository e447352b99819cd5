"""The gateway over real HTTP: OIP v2 routes, ids, auth, errors, headers, metrics."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import rows


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_health_metadata_and_infer(gated: Any, serve: Any, key: Any) -> None:
    k = key(output="full")
    gw = serve()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        assert c.get("/v2/health/live").json() == {"live": True}
        assert c.get("/v2/health/ready").json() == {"ready": True}
        meta = c.get("/v2/models/digits", headers=_bearer(k)).json()
        assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
        assert meta["versions"] == ["1"]
        r = c.post("/v2/models/digits/infer", json={"id": "req-1", **rows(2)},
                   headers={"X-API-Key": k})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["id"] == "req-1" and r.headers["x-request-id"] == "req-1"
        assert doc["model_name"] == "digits" and doc["model_version"] == "1"
        out = doc["outputs"][0]
        assert out["name"] == "probabilities" and out["shape"] == [2, 10]
        assert abs(sum(out["data"][:10]) - 1) < 1e-3
        r2 = c.post("/v2/models/digits/versions/1/infer", json=rows(), headers=_bearer(k))
        assert r2.status_code == 200
        assert r2.json()["id"] == r2.headers["x-request-id"] and len(r2.json()["id"]) == 32


def test_credentials_and_scopes(gated: Any, serve: Any, key: Any) -> None:
    other = key("bob", scopes=("infer:other",))
    wide = key("carol", scopes=("infer:*",))
    gw = serve()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        r = c.post("/v2/models/digits/infer", json=rows())
        assert r.status_code == 401 and r.json() == {"error": "missing API key"}
        assert r.headers["www-authenticate"] == 'Bearer realm="cpmap"'
        r = c.post("/v2/models/digits/infer", json=rows(), headers=_bearer("cpk_" + "0" * 60))
        assert r.status_code == 401 and "invalid_token" in r.headers["www-authenticate"]
        forged = other[:-4] + ("AAAA" if not other.endswith("AAAA") else "BBBB")
        assert c.post("/v2/models/digits/infer", json=rows(),
                      headers=_bearer(forged)).status_code == 401
        r = c.post("/v2/models/digits/infer", json=rows(), headers=_bearer(other))
        assert r.status_code == 403 and "infer:digits" in r.json()["error"]
        # an unknown model is 403 for a narrow key (no existence oracle) and 404 for infer:*
        assert c.get("/v2/models/nope", headers=_bearer(other)).status_code == 403
        assert c.get("/v2/models/nope", headers=_bearer(wide)).status_code == 404
        assert c.get("/v2/models/digits/versions/2", headers=_bearer(wide)).status_code == 404


def test_revoked_key_stops_working(ws: Any, gated: Any, serve: Any, key: Any) -> None:
    from cpmap.gateway.keys import revoke

    k = key()
    gw = serve()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        gw.app.keyring.load(ws)
        assert c.post("/v2/models/digits/infer", json=rows(), headers=_bearer(k)).is_success
        revoke(ws, "alice")
        gw.app.keyring.load(ws)
        assert c.post("/v2/models/digits/infer", json=rows(),
                      headers=_bearer(k)).status_code == 401


def test_errors_are_json_4xx_with_security_headers(gated: Any, serve: Any, key: Any) -> None:
    k = key()
    gw = serve()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        for method, path, body in [("GET", "/nowhere", None),
                                   ("GET", "/v2/models/digits/infer", None),
                                   ("POST", "/v2/models/digits/infer", b"{not json"),
                                   ("POST", "/v2/models/digits/infer", b'{"inputs": []}')]:
            r = c.request(method, path, content=body, headers=_bearer(k))
            assert 400 <= r.status_code < 500, (path, r.status_code)
            assert set(r.json()) == {"error"}
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["cache-control"] == "no-store"
            assert "server" not in r.headers
            assert "/" not in r.json()["error"].replace("/second", "")  # no paths
        r = c.get("/v2/models/digits/infer", headers=_bearer(k))
        assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_openapi_and_metrics_scope(gated: Any, serve: Any, key: Any) -> None:
    k, m = key(), key("ops", scopes=("metrics",))
    gw = serve()
    with httpx.Client(base_url=gw.url, timeout=10) as c:
        doc = c.get("/openapi.json").json()
        assert "/v2/models/digits/infer" in doc["paths"] and "/metrics" in doc["paths"]
        c.post("/v2/models/digits/infer", json=rows(), headers=_bearer(k))
        assert c.get("/metrics", headers=_bearer(k)).status_code == 403
        text = c.get("/metrics", headers=_bearer(m)).text
        assert 'cpmap_gateway_requests_total{code="200",route="infer"} 1.0' in text
        assert 'cpmap_gateway_refusals_total{reason="scope"} 1.0' in text
