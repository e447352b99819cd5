"""Alerts: signed ``monitor-alert`` evidence, Prometheus counters, and a signed webhook.

The request path only enqueues (:meth:`AlertSink.raise_`); one worker thread records the
evidence (ledger write) and posts the webhook, so a slow receiver never slows a prediction.
Each (kind, client) alerts at most once per ``cooldown_s``. The webhook body is JSON; the
receiver checks ``X-Cpmap-Signature: sha256=HMAC(secret, timestamp + "." + body)`` and the
``X-Cpmap-Timestamp`` age; delivery is retried with exponential backoff on connection errors
and 5xx. The secret comes from the environment, never from cpmap.toml or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.tags import Atlas

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

log = logging.getLogger("cpmap.monitor")

ATLAS = {"extraction": Atlas.T0024_002, "membership-probing": Atlas.T0024_000,
         "cost-harvesting": Atlas.T0034, "ood-probing": Atlas.T0015, "ood-rate": Atlas.T0015,
         "low-confidence": Atlas.T0015}


@dataclass(frozen=True)
class Alert:
    kind: str
    model: str
    digest: str
    message: str
    client: str | None = None  # hashed
    window: str | None = None
    action: str = "alert"
    info: dict[str, Any] | None = None

    @property
    def atlas(self) -> str:
        return str(ATLAS.get(self.kind, Atlas.T0015).value)


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: bytes
    retries: int = 3
    timeout_s: float = 2.0
    backoff_s: float = 0.2

    def post(self, payload: dict[str, Any]) -> bool:
        """Deliver once, retrying; True when the receiver answered 2xx."""
        import httpx

        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        for attempt in range(self.retries + 1):
            ts = str(int(time.time()))
            headers = {"Content-Type": "application/json", "X-Cpmap-Timestamp": ts,
                       "X-Cpmap-Signature": sign(self.secret, ts, body)}
            try:
                r = httpx.post(self.url, content=body, headers=headers, timeout=self.timeout_s)
                if r.status_code < 300:
                    return True
                if r.status_code < 500 and r.status_code != 429:
                    log.warning("webhook refused the alert: HTTP %s", r.status_code)
                    return False
            except httpx.HTTPError as e:
                log.warning("webhook delivery failed (%s), attempt %d", type(e).__name__,
                            attempt + 1)
            time.sleep(self.backoff_s * (2 ** attempt))
        return False


def _evidence(a: Alert) -> Any:
    from cpmap.core.evidence import Evidence, Subject, Verdict
    from cpmap.monitor.predicates import MonitorAlert

    tag = ATLAS.get(a.kind, Atlas.T0015)
    finding = Finding(rule_id=f"cpmap.monitor.{a.kind}", severity=Severity.MEDIUM,
                      location=Location(path=f"model:{a.model}"), message=a.message,
                      remediation="review the client's traffic; throttle or block it",
                      tags=(tag,))
    pred = MonitorAlert(verdict=Verdict.WARN, findings=(finding,), alert=a.kind,
                        atlas=str(tag.value), message=a.message, client=a.client,
                        window=a.window, action=a.action, info=dict(a.info or {}),
                        highlights=(a.message,))
    return Evidence.of(pred, [Subject(f"model:{a.model}", a.digest)])


class AlertSink:
    """Dedupes, counts, and hands alerts to one worker (ledger, webhook)."""

    def __init__(self, ws: Workspace, webhook: Webhook | None, cooldown_s: float = 600.0,
                 count: Callable[[str], None] | None = None) -> None:
        self.ws, self.webhook, self.cooldown_s, self._count = ws, webhook, cooldown_s, count
        self._last: dict[tuple[str, str | None], float] = {}
        self._q: queue.Queue[Alert | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.raised: list[Alert] = []
        self.entries: list[int] = []
        self.delivered = 0

    def raise_(self, alert: Alert) -> bool:
        now = time.monotonic()
        key = (alert.kind, alert.client)
        if now - self._last.get(key, -1e18) < self.cooldown_s:
            return False
        self._last[key] = now
        self.raised.append(alert)
        if self._count is not None:
            self._count(alert.kind)
        log.warning("CP8 alert %s on %s: %s", alert.kind, alert.model, alert.message)
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="cpmap-alerts",
                                            daemon=True)
            self._thread.start()
        self._q.put(alert)
        return True

    def _work(self) -> None:
        from cpmap.core.evidence import record

        while (a := self._q.get()) is not None:
            try:
                entry = record(_evidence(a), self.ws)
                self.entries.append(entry.index)
                if self.webhook is not None and self.webhook.post({
                        "kind": a.kind, "atlas": a.atlas, "model": a.model,
                        "client": a.client, "window": a.window, "action": a.action,
                        "message": a.message, "entry": entry.index}):
                    self.delivered += 1
            except Exception:  # noqa: BLE001 - an alert failing must not stop the next
                log.exception("recording alert %s failed", a.kind)
            finally:
                self._q.task_done()
        self._q.task_done()  # the stop sentinel: a drain after close must not wait it out

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued alert is recorded (tests, shutdown)."""
        end = time.monotonic() + timeout
        while self._q.unfinished_tasks and time.monotonic() < end:
            time.sleep(0.01)

    def close(self) -> None:
        self.drain()
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(2.0)
            self._thread = None
