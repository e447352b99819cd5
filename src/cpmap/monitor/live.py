"""The monitor inside the gateway: per-request OOD score and confidence, detectors, actions.

:func:`attach` is called once by the gateway builder: it reads ``[monitoring]``, loads the
latest verified baseline about the digest served (refusing a pinned baseline that is about
another version, and refusing to serve with ``enabled = "on"`` and no baseline), and hooks the
monitor into the app and its prediction log. On the request path the gateway calls
:meth:`Monitor.admit` (throttled / blocked clients), :meth:`Monitor.check` (after the model:
scores, policy, detectors; the fields the log records) and, in chat mode,
:meth:`Monitor.filter_chat`. Everything slow (alerts, webhooks, the store) happens elsewhere.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.gateway.errors import Refusal, ServeRefused
from cpmap.monitor.alerts import Alert, AlertSink, Webhook
from cpmap.monitor.detectors import Detectors
from cpmap.monitor.filters import TextFilter, abstain
from cpmap.monitor.probing import ProbeDetector

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from cpmap.core.workspace import Workspace
    from cpmap.monitor.baseline import Baseline
    from cpmap.monitor.config import MonitorConfig

log = logging.getLogger("cpmap.monitor")


class MonitorRefusal(Refusal):
    """A refusal that still carries the fields the prediction log records."""

    def __init__(self, status: int, message: str, reason: str, fields: dict[str, Any],
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, reason, headers)
        self.fields = fields


class _Metrics:
    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Histogram

        self.rows = Counter("cpmap_monitor_rows", "Rows scored", registry=registry)
        self.ood = Counter("cpmap_monitor_ood_rows", "Rows flagged out of distribution",
                           registry=registry)
        self.alerts = Counter("cpmap_monitor_alerts", "Alerts raised", ["kind"],
                              registry=registry)
        self.actions = Counter("cpmap_monitor_actions", "Requests refused or abstained by "
                               "the monitor", ["action"], registry=registry)
        self.confidence = Histogram("cpmap_monitor_confidence", "Prediction confidence",
                                    buckets=(0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99),
                                    registry=registry)


class Monitor:
    def __init__(self, ws: Workspace, model: str, digest: str, baseline: Baseline | None,
                 cfg: MonitorConfig, registry: Any) -> None:
        from cpmap.monitor.predlog import client_key

        self.ws, self.model, self.digest, self.base, self.cfg = ws, model, digest, baseline, cfg
        self.metrics = _Metrics(registry)
        secret = cfg.webhook_secret()
        hook = Webhook(cfg.webhook_url, secret, cfg.webhook_retries) if cfg.webhook_url else None
        self.sink = AlertSink(ws, hook, cfg.cooldown_s,
                              lambda k: self.metrics.alerts.labels(k).inc())
        self._key = client_key(ws)
        self.detectors = probing = None
        if baseline is not None:
            from dataclasses import replace

            self.detectors = Detectors(baseline.confidence_mean, baseline.confidence_q05,
                                       baseline.target_fpr)
            settings = replace(baseline.probing,
                               harvest_rows_per_minute=cfg.harvest_rows_per_minute)
            probing = ProbeDetector(settings, baseline.target_fpr)
        self.probing = probing
        self.text = TextFilter(cfg.filter_pii, cfg.filter_secrets, cfg.deny_patterns,
                               _schema(cfg.json_schema))
        self.penalty: dict[str, tuple[str, float]] = {}  # client -> (action, until)
        self._mismatch = False

    # -- request path -----------------------------------------------------------------------

    def admit(self, client: str) -> None:
        """Refuse a throttled or blocked client before it reaches the model."""
        held = self.penalty.get(client)
        if held is None:
            return
        action, until = held
        who = {"client": client}
        if action == "block":
            raise MonitorRefusal(403, "access suspended for this client", "monitor-block", who)
        wait = until - time.monotonic()
        if wait > 0:
            raise MonitorRefusal(429, "too many requests; retry later", "monitor-throttle", who,
                                 {"Retry-After": str(max(1, int(wait + 0.999)))})
        del self.penalty[client]

    def check(self, client: str, x: np.ndarray, probs: np.ndarray, digest: str
              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """(extra output tensors, log fields); may refuse per policy (422, neutral)."""
        if self.base is None or self.detectors is None or self.probing is None:
            return [], {}
        if digest != self.base.model_digest:  # a reload moved the version: stop scoring
            if not self._mismatch:
                log.error("baseline is about sha256:%s, now serving sha256:%s: monitoring "
                          "stopped", self.base.model_digest[:12], digest[:12])
                self._mismatch = True
            return [], {}
        xs = np.asarray(x, dtype=np.float64)
        scores, conf = self.base.detector.score(xs, probs)
        flagged = scores >= 1.0
        fields = {"confidence": round(float(conf.mean()), 4), "ood": bool(flagged.any()),
                  "ood_score": round(float(scores.max()), 3)}
        self.metrics.rows.inc(len(xs))
        self.metrics.ood.inc(int(flagged.sum()))
        for c in conf:
            self.metrics.confidence.observe(float(c))
        self._streams(client, conf, flagged)
        self._probing(client, xs, probs, flagged)
        if flagged.any() and self.cfg.policy == "refuse":
            self.metrics.actions.labels("refuse").inc()
            raise MonitorRefusal(422, "input rejected", "ood", {**fields, "client": client})
        extra = []
        if self.cfg.abstain_floor > 0:
            rows = abstain(probs, self.cfg.abstain_floor)
            if rows.any():
                self.metrics.actions.labels("abstain").inc()
            extra.append({"name": "abstain", "datatype": "BOOL", "shape": [len(rows)],
                          "data": rows.tolist()})
        return extra, fields

    def _hashed(self, client: str) -> str:
        from cpmap.monitor.predlog import hash_client

        return str(hash_client(self._key, client))

    def _streams(self, client: str, conf: np.ndarray, flagged: np.ndarray) -> None:
        assert self.detectors is not None  # noqa: S101 - checked by the caller
        for key in ("model", f"client:{client}"):
            for c, f in zip(conf, flagged, strict=True):
                for ch in self.detectors.update(key, float(c), bool(f)):
                    who = None if key == "model" else self._hashed(client)
                    kind = ch.kind if self.cfg.policy != "log" else ""
                    if kind:
                        self.sink.raise_(Alert(kind, self.model, self.digest, ch.message,
                                               who, f"last {ch.window} rows",
                                               info={"value": round(ch.value, 4)}))

    def _probing(self, client: str, xs: np.ndarray, probs: np.ndarray,
                 flagged: np.ndarray) -> None:
        assert self.probing is not None  # noqa: S101 - checked by the caller
        signals = self.probing.observe(client, xs, probs, flagged)
        rows = self.probing.rows_seen(client)
        for s in signals:
            action = self.cfg.probing_action
            if action != "alert":
                self.penalty[client] = (action, time.monotonic() + self.cfg.throttle_s)
            self.sink.raise_(Alert(s.kind, self.model, self.digest, s.message,
                                   self._hashed(client), f"{rows} rows so far", action,
                                   {**s.info, "rows_seen": rows}))

    def filter_chat(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The chat answer with each choice's text filtered; blocked / quarantined -> 422."""
        for choice in doc.get("choices", []):
            msg = choice.get("message", {})
            out = self.text.apply(str(msg.get("content", "")))
            if out.action in ("blocked", "quarantined"):
                self.metrics.actions.labels(out.action).inc()
                raise Refusal(422, "response withheld by the output filter", f"filter-"
                              f"{out.action}")
            msg["content"] = out.text
        return doc

    # -- off the request path ---------------------------------------------------------------

    def on_batch(self, conn: Connection, batch: int, entries: list[dict[str, Any]]) -> None:
        from cpmap.monitor.predlog import write_rows

        write_rows(conn, batch, entries, self.model, self.digest, self._key,
                   self.cfg.retention_days)

    def close(self) -> None:
        self.sink.close()


def _schema(path: str) -> dict[str, Any] | None:
    if not path:
        return None
    import json
    from pathlib import Path

    from cpmap.monitor.config import MonitorConfigError

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MonitorConfigError(f"[monitoring] json_schema {path}: cannot read it ({e})") \
            from e
    if not isinstance(doc, dict):
        raise MonitorConfigError(f"[monitoring] json_schema {path}: not a JSON object")
    return doc


def attach(ws: Workspace, app: Any, cfg: MonitorConfig | None = None) -> Monitor | None:
    """Hook monitoring into a built gateway per ``[monitoring]``; None when it stays off."""
    from cpmap.monitor.config import load

    cfg = cfg or load(ws)
    srv = app.served
    if cfg.enabled == "off":
        return None
    base = _pinned(ws, cfg.baseline, srv.digest) if cfg.baseline else _latest(ws, srv, cfg)
    if base is None and cfg.enabled == "on" and srv.model is not None:
        raise ServeRefused(f"{srv.ref}: monitoring is on but no baseline is about this "
                           f"version (sha256:{srv.digest[:12]})",
                           hint=f"cpmap monitor baseline {srv.ref}")
    if base is None and srv.model is not None:
        log.warning("%s: no baseline about sha256:%s; serving without OOD monitoring",
                    srv.ref, srv.digest[:12])
    mon = Monitor(ws, srv.ref, srv.digest, base, cfg, app.metrics.registry)
    redis_url = str(getattr(app.cfg, "redis_url", None) or "")
    if mon.probing is not None and redis_url:  # replicas share the probing state
        from cpmap.monitor.probestore import RedisProbeStore

        mon.probing.store = RedisProbeStore(redis_url, f"cpmap-probe:"
                                            f"{ws.signing_key.keyid[:16]}:{srv.digest[:16]}")
    app.monitor = mon
    if app.predlog is not None:
        app.predlog.on_batch = mon.on_batch
    return mon


def _latest(ws: Workspace, srv: Any, cfg: MonitorConfig) -> Baseline | None:
    """The latest baseline about the served digest; with ``enabled = "auto"`` an unusable one
    (its object missing or altered) is logged and the gateway serves without OOD scores."""
    from cpmap.monitor import baseline as bl

    if srv.model is None:
        return None
    try:
        return bl.current(ws, srv.digest)
    except bl.BaselineError as e:
        if cfg.enabled == "on":
            raise
        log.error("%s: %s; serving without OOD monitoring", srv.ref, e.message)
        return None


def _pinned(ws: Workspace, entry: str, digest: str) -> Baseline:
    """A baseline pinned by entry index: must be a verified baseline about ``digest``."""
    from cpmap.core.ledger import Ledger
    from cpmap.gate.evidence import collect, item_of
    from cpmap.monitor import baseline as bl
    from cpmap.monitor.config import MonitorConfigError
    from cpmap.monitor.predicates import MonitorBaseline

    if not entry.isdigit():
        raise MonitorConfigError(f"[monitoring] baseline {entry!r}: a ledger entry index")
    item = item_of(Ledger(ws).get(int(entry)))
    if not isinstance(item.predicate, MonitorBaseline):
        raise MonitorConfigError(f"[monitoring] baseline {entry}: entry is a {item.kind}")
    if digest not in item.subjects:
        raise bl.BaselineError(f"baseline #{entry} is about "
                               f"{', '.join(item.subjects.values())}, not the version served "
                               f"(sha256:{digest[:12]}); monitoring refused")
    verified = [i for i in collect(ws, {digest}).items
                if i.index == item.index and i.problem is None]
    if not verified:
        raise bl.BaselineError(f"baseline #{entry}: its ledger entry does not verify")
    return bl.load_item(ws, verified[0], digest)
