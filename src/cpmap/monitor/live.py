"""The monitor inside the gateway: per-request OOD score and confidence, detectors, actions.

:func:`attach` is called once by the gateway builder: it reads ``[monitoring]``, loads the
latest verified baseline about the digest served (refusing a pinned baseline that is about
another version, and refusing to serve with ``enabled = "on"`` and no baseline), and hooks the
monitor into the app and its prediction log. Answers of another version (a canary's candidate,
the version a reload promoted) are scored against that version's own latest baseline, loaded
when it is first seen, and logged and alerted under its name; a version without one is not
scored (said once in the log). On the request path the gateway calls
:meth:`Monitor.admit` (throttled / blocked clients), :meth:`Monitor.check` (after the model:
the OOD score and flag, the confidence, the policy; the fields the log records) and, in chat
mode, :meth:`Monitor.filter_chat`. The rest (metrics, change detectors, probing, alerts) runs
per request, in request order, on a consumer thread (:mod:`cpmap.monitor.consumer`), so the
alerts are those the same sequence raises inline; throttling starts with the first request
after the consumer has judged the flagging one. The store and webhooks are further off.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.gateway.errors import Refusal, ServeRefused
from cpmap.monitor.alerts import Alert, AlertSink, Webhook
from cpmap.monitor.consumer import Consumer, Event
from cpmap.monitor.detectors import Detectors
from cpmap.monitor.filters import TextFilter, abstain
from cpmap.monitor.ood import Scorer
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


@dataclass(frozen=True)
class _Version:
    """One served version's monitoring state: its baseline, the request-path scorer built from
    it, and the detectors that judge its traffic (each version its own, so a canary's answers
    never move production's statistics)."""

    base: Baseline
    scorer: Scorer
    detectors: Detectors
    probing: ProbeDetector


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
                 cfg: MonitorConfig, registry: Any, *, background: bool = True,
                 redis_url: str = "") -> None:
        from cpmap.monitor.predlog import client_key

        self.ws, self.model, self.digest, self.base, self.cfg = ws, model, digest, baseline, cfg
        self.metrics = _Metrics(registry)
        secret = cfg.webhook_secret()
        hook = Webhook(cfg.webhook_url, secret, cfg.webhook_retries) if cfg.webhook_url else None
        self.sink = AlertSink(ws, hook, cfg.cooldown_s,
                              lambda k: self.metrics.alerts.labels(k).inc())
        self._key = client_key(ws)
        self._redis_url = redis_url  # replicas share each version's probing state there
        self.own = self._calibrated(baseline)
        # versions other than the one the monitor was built for (a canary's candidate, the
        # version a reload promoted): each scored against its own baseline, loaded once
        self._versions: dict[str, _Version | None] = {digest: self.own}
        self.text = TextFilter(cfg.filter_pii, cfg.filter_secrets, cfg.deny_patterns,
                               _schema(cfg.json_schema))
        self.penalty: dict[str, tuple[str, float]] = {}  # client -> (action, until)
        self._refuse = cfg.policy == "refuse"
        self._alerting = cfg.policy != "log"
        self.consumer = Consumer(self._process) if background else None
        self.fired: list[tuple[int, Alert]] = []  # (request sequence number, alert)
        self._seq = 0

    @property
    def scorer(self) -> Scorer | None:
        return None if self.own is None else self.own.scorer

    @property
    def detectors(self) -> Detectors | None:
        return None if self.own is None else self.own.detectors

    @property
    def probing(self) -> ProbeDetector | None:
        return None if self.own is None else self.own.probing

    def _calibrated(self, baseline: Baseline | None) -> _Version | None:
        if baseline is None:
            return None
        from dataclasses import replace

        settings = replace(baseline.probing,
                           harvest_rows_per_minute=self.cfg.harvest_rows_per_minute)
        probing = ProbeDetector(settings, baseline.target_fpr)
        if self._redis_url:
            from cpmap.monitor.probestore import RedisProbeStore

            probing.store = RedisProbeStore(self._redis_url, f"cpmap-probe:"
                                            f"{self.ws.signing_key.keyid[:16]}:"
                                            f"{baseline.model_digest[:16]}")
        return _Version(baseline, Scorer(baseline.detector),
                        Detectors(baseline.confidence_mean, baseline.confidence_q05,
                                  baseline.target_fpr), probing)

    def _version(self, digest: str) -> _Version | None:
        """The monitoring state of ``digest``: the monitor's own, or another version's (its
        latest verified baseline, loaded on first sight; None: not scored, said once)."""
        if digest in self._versions:
            return self._versions[digest]
        from cpmap.monitor import baseline as bl

        base: Baseline | None
        try:
            base = bl.current(self.ws, digest)
        except bl.BaselineError as e:
            log.error("sha256:%s: %s; its answers are not scored", digest[:12], e.message)
            base = None
        if base is None:
            log.error("no baseline about sha256:%s (now served): its answers are not scored",
                      digest[:12])
        else:
            log.warning("monitoring %s sha256:%s with its own baseline #%s", base.model,
                        digest[:12], base.entry)
        self._versions[digest] = v = self._calibrated(base)
        return v

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
        self.penalty.pop(client, None)

    def check(self, client: str, x: np.ndarray, probs: np.ndarray, digest: str
              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """(extra output tensors, log fields); may refuse per policy (422, neutral).

        Only what the response depends on runs here: the OOD score and flag (for the refuse
        policy), the confidence and the abstain output. Metrics, change detectors, probing
        and alerts get the request as one event for :meth:`_process`, in order, on the
        consumer thread."""
        v = self._versions[digest] if digest in self._versions else self._version(digest)
        if v is None:
            return [], {}
        sc = v.scorer
        if len(x) == 1:  # the common request: floats, no per-row arrays
            top, mean = sc.score_one(x[0], probs[0])
            scores: Any = top
            conf: Any = mean
        else:
            scores, conf = sc.score(x, probs)
            top, mean = float(scores.max()), float(conf.mean())
        ood = top >= 1.0
        fields: dict[str, Any] = {"confidence": round(mean, 4), "ood": ood,
                                  "ood_score": round(top, 3)}
        if digest != self.digest:  # the log names the version that answered
            ref, answered = self._about(v.base)
            fields = {**fields, "version": ref, "version_digest": answered}
        refuse = ood and self._refuse
        rows = None if refuse or self.cfg.abstain_floor <= 0 else abstain(
            probs, self.cfg.abstain_floor)
        self._seq += 1
        event = (self._seq, client, x, probs, scores, conf, time.monotonic(), refuse,
                 rows is not None and bool(rows.any()), v)
        if self.consumer is None:
            self._process(event)
        else:
            self.consumer.put(event)
        if refuse:
            raise MonitorRefusal(422, "input rejected", "ood", {**fields, "client": client})
        if rows is None:
            return [], fields
        return [{"name": "abstain", "datatype": "BOOL", "shape": [len(rows)],
                 "data": rows.tolist()}], fields

    # -- the consumer thread ----------------------------------------------------------------

    def _process(self, event: Event) -> None:
        """Everything the response does not wait for, for one request, in request order."""
        seq, client, x, probs, scores, conf, now, refused, abstained, v = event
        scores, conf = np.atleast_1d(scores), np.atleast_1d(conf)
        flagged = scores >= 1.0
        m = self.metrics
        m.rows.inc(len(scores))
        m.ood.inc(int(flagged.sum()))
        for c in conf.tolist():
            m.confidence.observe(c)
        if refused:
            m.actions.labels("refuse").inc()
        if abstained:
            m.actions.labels("abstain").inc()
        self._streams(seq, client, conf, flagged, v)
        self._probing(seq, client, np.asarray(x, dtype=np.float64), probs, flagged, now, v)

    def _raise(self, seq: int, alert: Alert) -> None:
        if self.sink.raise_(alert):
            self.fired.append((seq, alert))

    def _hashed(self, client: str) -> str:
        from cpmap.monitor.predlog import hash_client

        return str(hash_client(self._key, client))

    def _about(self, base: Baseline) -> tuple[str, str]:
        """(ref, digest) an alert names: the version the scored rows went to."""
        own = base.model_digest == self.digest
        return (self.model if own else base.model), base.model_digest

    def _streams(self, seq: int, client: str, conf: np.ndarray, flagged: np.ndarray,
                 v: _Version) -> None:
        for key in ("model", f"client:{client}"):
            for c, f in zip(conf.tolist(), flagged.tolist(), strict=True):
                for ch in v.detectors.update(key, c, f):
                    if self._alerting:
                        who = None if key == "model" else self._hashed(client)
                        self._raise(seq, Alert(ch.kind, *self._about(v.base), ch.message,
                                               who, f"last {ch.window} rows",
                                               info={"value": round(ch.value, 4)}))

    def _probing(self, seq: int, client: str, xs: np.ndarray, probs: np.ndarray,
                 flagged: np.ndarray, now: float, v: _Version) -> None:
        signals = v.probing.observe(client, xs, probs, flagged, now)
        rows = v.probing.rows_seen(client)
        for s in signals:
            action = self.cfg.probing_action
            if action != "alert":
                self.penalty[client] = (action, now + self.cfg.throttle_s)
            self._raise(seq, Alert(s.kind, *self._about(v.base), s.message,
                                   self._hashed(client), f"{rows} rows so far", action,
                                   {**s.info, "rows_seen": rows}))

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every request so far is judged and its alerts recorded (tests, demo)."""
        if self.consumer is not None:
            self.consumer.drain(timeout)
        self.sink.drain(timeout)

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
        if self.consumer is not None:
            self.consumer.close()
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
    mon = Monitor(ws, srv.ref, srv.digest, base, cfg, app.metrics.registry,
                  redis_url=str(getattr(app.cfg, "redis_url", None) or ""))
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
