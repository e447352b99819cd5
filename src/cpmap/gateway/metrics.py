"""Prometheus metrics of one gateway: requests by route and status, refusals by reason,
latency. Its own registry, so that two gateways in one process (tests) never mix counts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("cpmap_gateway_requests", "Requests by route and status",
                                ["route", "code"], registry=self.registry)
        self.refusals = Counter("cpmap_gateway_refusals", "Refused requests by reason",
                                ["reason"], registry=self.registry)
        self.rows = Counter("cpmap_gateway_predicted_rows", "Rows predicted",
                            registry=self.registry)
        self.latency = Histogram("cpmap_gateway_request_seconds", "Request latency",
                                 ["route"], buckets=BUCKETS, registry=self.registry)
        self._req: dict[tuple[str, int], Counter] = {}
        self._ref: dict[str, Counter] = {}
        self._lat: dict[str, Histogram] = {}

    def observe(self, route: str, code: int, seconds: float) -> None:
        key = (route, code)
        child = self._req.get(key)
        if child is None:
            child = self._req[key] = self.requests.labels(route, str(code))
        child.inc()
        lat = self._lat.get(route)
        if lat is None:
            lat = self._lat[route] = self.latency.labels(route)
        lat.observe(seconds)

    def refused(self, reason: str) -> None:
        child = self._ref.get(reason)
        if child is None:
            child = self._ref[reason] = self.refusals.labels(reason)
        child.inc()

    def counts(self) -> dict[str, float]:
        """Totals for reports: requests, refusals, by reason."""
        out: dict[str, float] = {"requests": 0.0, "refused": 0.0}
        for metric in self.registry.collect():
            for s in metric.samples:
                if s.name == "cpmap_gateway_requests_total":
                    out["requests"] += s.value
                elif s.name == "cpmap_gateway_refusals_total":
                    out["refused"] += s.value
                    out[f"refused.{s.labels['reason']}"] = s.value
        return out

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsApp:
    """``GET /metrics`` without credentials, for a separate port bound to loopback only."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
        if scope["type"] != "http":
            return
        ok = scope.get("path") == "/metrics" and scope.get("method") == "GET"
        body = self.metrics.render() if ok else b'{"error":"not found"}'
        ctype = self.metrics.content_type.encode() if ok else b"application/json"
        await send({"type": "http.response.start", "status": 200 if ok else 404,  # type: ignore[operator]
                    "headers": [(b"content-type", ctype),
                                (b"content-length", str(len(body)).encode()),
                                (b"x-content-type-options", b"nosniff"),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]
