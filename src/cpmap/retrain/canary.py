"""The canary route inside the gateway: a sticky share of clients served by the candidate.

A client is on the canary when the first 32 bits of ``SHA-256(model:client)`` fall below
``share``: the same client always gets the same version (sticky) without any state, and the
share is exact over many clients. Each answer is observed per arm: errors, OOD rows (farther
from every class centroid of the training anchor than 99% of the anchor itself), confidence
and latency. The counts are written to the rollout's row every ``FLUSH_EVERY`` observations
(in a thread, off the event loop) and on :meth:`Canary.flush`, so ``cpmap rollout status`` in
another process sees them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import update

from cpmap.retrain.tables import retrain_rollouts

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.gateway.served import Served

FLUSH_EVERY = 50
ARMS = ("production", "candidate")


@dataclass
class Arm:
    requests: int = 0
    errors: int = 0
    rows: int = 0
    ood: int = 0
    confidence_sum: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors, "rows": self.rows,
                "ood": self.ood, "confidence_sum": self.confidence_sum,
                "latencies": self.latencies[-2000:]}

    @classmethod
    def of(cls, d: dict[str, Any]) -> Arm:
        return cls(int(d.get("requests", 0)), int(d.get("errors", 0)), int(d.get("rows", 0)),
                   int(d.get("ood", 0)), float(d.get("confidence_sum", 0.0)),
                   [float(v) for v in d.get("latencies", [])])


@dataclass(frozen=True)
class OodScore:
    """Distance to the nearest class centroid of the anchor, against its 99th percentile."""

    centroids: np.ndarray
    threshold: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> OodScore:
        cents = np.stack([x[y == c].mean(axis=0) for c in np.unique(y)])
        d = cls(cents, 0.0).distance(x)
        return cls(cents, float(np.quantile(d, 0.99)))

    def distance(self, x: np.ndarray) -> np.ndarray:
        diff = x[:, None, :] - self.centroids[None, :, :]
        out: np.ndarray = np.sqrt((diff ** 2).sum(axis=2)).min(axis=1)
        return out

    def count(self, x: np.ndarray) -> int:
        return int((self.distance(x) > self.threshold).sum())


def on_canary(model: str, client: str | None, share: float) -> bool:
    h = int.from_bytes(hashlib.sha256(f"{model}:{client or ''}".encode()).digest()[:4], "big")
    return h / 2 ** 32 < share


class Canary:
    """What the gateway calls on each inference when a rollout is active."""

    def __init__(self, ws: Workspace, candidate: Served, share: float, ood: OodScore) -> None:
        self.ws, self.candidate, self.share, self.ood = ws, candidate, share, ood
        self.arms = {a: Arm() for a in ARMS}
        self._lock = threading.Lock()
        self._since = 0

    def pick(self, client: str | None, production: Served) -> Served:
        return self.candidate if on_canary(production.name, client, self.share) else production

    def arm(self, served: Served) -> Arm:
        return self.arms["candidate" if served is self.candidate else "production"]

    def observe(self, served: Served, x: np.ndarray, probs: np.ndarray | None,
                seconds: float) -> None:
        with self._lock:
            a = self.arm(served)
            a.requests += 1
            a.latencies.append(round(seconds, 6))
            if probs is None:
                a.errors += 1
            else:
                a.rows += len(x)
                a.ood += self.ood.count(np.asarray(x, dtype=np.float64))
                a.confidence_sum += float(np.asarray(probs).max(axis=1).sum())
            self._since += 1
            due = self._since >= FLUSH_EVERY
        if due:
            threading.Thread(target=self.flush, daemon=True).start()

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: v.to_dict() for k, v in self.arms.items()}

    def flush(self) -> None:
        """Write the counts to the rollout row (they replace what is there: one gateway)."""
        snap = self.snapshot()
        with self._lock:
            self._since = 0
        with self.ws.store.write() as conn:
            conn.execute(update(retrain_rollouts).where(
                retrain_rollouts.c.model == self.candidate.name,
                retrain_rollouts.c.status == "canary").values(stats=json.dumps(snap)))
