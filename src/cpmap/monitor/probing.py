"""Per-client query-pattern detectors: model extraction, membership probing, cost harvesting.

Each client has a small ring of its recent queries (inputs scaled by the baseline's feature
scale). For every new row the detector takes the distance to the nearest earlier query of
that client, and judges the client on four signals, each calibrated on natural data from the
version's own training lineage when the baseline is built (:func:`calibrate`):

* **PRADA** (Juuti et al. 2019): natural queries' nearest-neighbour distances are close to
  normally distributed; synthetic extraction queries (mixups, Jacobian steps, random inputs)
  are not. Shapiro-Wilk ``W`` over the client's last distances below the lowest ``W`` seen for
  simulated natural clients flags extraction (AML.T0024.002).
* **OOD / near-boundary share**: a one-sided binomial test of the client's count of flagged
  (OOD) rows, and of low-margin rows, against the rates natural traffic shows (extraction and
  evasion both live near boundaries and off the data manifold).
* **Near-duplicates**: rows closer to an earlier row than natural rows ever are (a fraction of
  natural nearest-neighbour distances' 1% quantile): repeated small perturbations of one
  record are how label-only membership inference probes (AML.T0024.000).
* **Cost harvesting** (AML.T0034): more rows per minute than ``harvest_rows_per_minute``.

With a store (:class:`~cpmap.monitor.probestore.RedisProbeStore`, when the gateway runs with
Redis) the client's state is the one all replicas share; judging is the same.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

RING = 256  # queries kept per client
MIN_DISTANCES = 48  # before the PRADA test runs
TEST_EVERY = 16  # rows between two PRADA tests of one client
ALPHA = 1e-4  # binomial tests: a natural client is flagged this rarely per test
STORE_RETRY_S = 5.0  # a failed shared store is skipped this long
log = logging.getLogger("cpmap.monitor")


@dataclass(frozen=True)
class ProbeSettings:
    """Calibrated on natural data when the baseline is built (stored with it)."""

    scale: float  # inputs are divided by this before distances
    prada_w: float  # Shapiro-Wilk W below this: not natural
    dup_eps: float  # a nearest-neighbour distance below this is a near-duplicate
    boundary_margin: float  # top-1 minus top-2 probability below this is near a boundary
    boundary_rate: float  # share of natural rows that are near a boundary
    dup_limit: int = 8  # near-duplicates in the ring before membership probing is flagged
    harvest_rows_per_minute: int = 20_000

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ProbeSettings:
        return cls(float(doc["scale"]), float(doc["prada_w"]), float(doc["dup_eps"]),
                   float(doc["boundary_margin"]), float(doc["boundary_rate"]),
                   int(doc.get("dup_limit", 8)),
                   int(doc.get("harvest_rows_per_minute", 20_000)))


@dataclass(frozen=True)
class Signal:
    kind: str  # extraction | membership-probing | ood-probing | cost-harvesting
    atlas: str
    message: str
    info: dict[str, Any]


def _nn(ring: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each row's distance to its nearest earlier query (ring first, then rows before it)."""
    allq = np.concatenate([ring, rows]) if len(ring) else rows
    sq = np.einsum("ij,ij->i", allq, allq)
    d2 = sq[len(ring):, None] + sq[None, :] - 2.0 * rows @ allq.T
    n0 = len(ring)
    for i in range(len(rows)):  # only earlier queries count
        d2[i, n0 + i:] = np.inf
    out: np.ndarray = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


def shapiro_w(values: np.ndarray) -> float:
    from scipy.stats import shapiro

    if len(values) < 3 or float(np.ptp(values)) == 0.0:
        return 0.0
    return float(shapiro(values).statistic)


def binomial_p(k: int, n: int, p0: float) -> float:
    """One-sided P(X >= k) for X ~ Binomial(n, p0)."""
    from scipy.stats import binom

    return float(binom.sf(k - 1, n, p0)) if n else 1.0


@lru_cache(maxsize=4096)
def critical(n: int, p0: float, alpha: float = ALPHA) -> int:
    """The smallest k with P(X >= k) < alpha for X ~ Binomial(n, p0): a table lookup on the
    request path instead of a scipy call."""
    from scipy.stats import binom

    return int(binom.isf(alpha, n, p0)) + 1 if n else 1


class Window:
    """The last ``size`` booleans and their running count (no re-summing per request)."""

    def __init__(self, size: int = RING) -> None:
        self.items: deque[bool] = deque(maxlen=size)
        self.count = 0

    def extend(self, values: Iterable[bool]) -> None:
        for v in values:
            if len(self.items) == self.items.maxlen:
                self.count -= self.items[0]
            self.items.append(v)
            self.count += v

    def __len__(self) -> int:
        return len(self.items)


class ClientState:
    """One client's recent queries (a fixed numpy ring), distances and flags."""

    def __init__(self, dim: int) -> None:
        self.ring = np.zeros((RING, dim))
        self.sq = np.zeros(RING)  # squared norms of the ring's rows
        self.filled = 0
        self.pos = 0
        self.dist: deque[float] = deque(maxlen=RING)
        self.dups = Window()
        self.ood = Window()
        self.boundary = Window()
        self.rows = 0
        self.since_test = 0
        self.minute: deque[tuple[float, int]] = deque()
        self.per_minute = 0  # rows in ``minute``

    def nearest(self, rows: np.ndarray) -> np.ndarray:
        """Each row's distance to the nearest earlier query (inf for the very first)."""
        sq = np.einsum("ij,ij->i", rows, rows)
        out = np.full(len(rows), np.inf)
        if self.filled:
            ring, rsq = self.ring[:self.filled], self.sq[:self.filled]
            out = (sq[:, None] + rsq[None, :] - 2.0 * rows @ ring.T).min(axis=1)
        if len(rows) > 1:
            inner = sq[:, None] + sq[None, :] - 2.0 * rows @ rows.T
            inner[np.triu_indices(len(rows))] = np.inf  # only earlier rows of the batch
            out = np.minimum(out, inner.min(axis=1))
        nn: np.ndarray = np.sqrt(np.maximum(out, 0.0))
        for r, q in zip(rows, sq, strict=True):
            self.ring[self.pos], self.sq[self.pos] = r, q
            self.pos = (self.pos + 1) % RING
            self.filled = min(self.filled + 1, RING)
        return nn

    def rate(self, n_new: int, now: float) -> int:
        """Rows in the last minute (``now``: the request's monotonic time), these ``n_new``
        included."""
        self.minute.append((now, n_new))
        self.per_minute += n_new
        while self.minute and self.minute[0][0] < now - 60:
            self.per_minute -= self.minute.popleft()[1]
        return self.per_minute


class SharedState:
    """A client's state as the replicas' store holds it, this request's rows included (the
    same attributes :meth:`ProbeDetector._judge` reads from a :class:`ClientState`)."""

    def __init__(self, view: Any, dist: list[float], dups: list[bool], ood: list[bool],
                 near: list[bool], n_new: int) -> None:
        self.dist: deque[float] = deque(view.dist + dist, maxlen=RING)
        self.dups, self.ood, self.boundary = Window(), Window(), Window()
        self.dups.extend(view.dups + dups)
        self.ood.extend(view.ood + ood)
        self.boundary.extend(view.near + near)
        self.rows = int(view.rows)
        crossed = (self.rows - n_new) // TEST_EVERY != self.rows // TEST_EVERY
        self.since_test = TEST_EVERY if crossed else 0  # PRADA every TEST_EVERY rows, shared
        self._per_minute = int(view.per_minute)

    def rate(self, n_new: int, now: float) -> int:
        return self._per_minute  # the store counted them when they came


class ProbeDetector:
    """Judges each client's stream of queries; returns the signals its new rows raise."""

    def __init__(self, settings: ProbeSettings, fpr: float) -> None:
        self.s, self.fpr = settings, max(fpr, 1e-4)
        self.clients: dict[str, ClientState] = {}
        self.store: Any = None  # a RedisProbeStore: the state shared by replicas
        self._shared_rows: dict[str, int] = {}
        self._store_down = False
        self._retry_at = 0.0

    def rows_seen(self, client: str) -> int:
        """The client's rows so far (across replicas with a store)."""
        if client in self._shared_rows:
            return self._shared_rows[client]
        st = self.clients.get(client)
        return st.rows if st is not None else 0

    def observe(self, client: str, x: np.ndarray, probs: np.ndarray,
                flagged: np.ndarray, now: float | None = None) -> list[Signal]:
        """The signals ``client``'s new rows raise; ``now`` is the request's monotonic time
        (the cost-harvesting rate counts requests when they came, not when judged)."""
        now = time.monotonic() if now is None else now
        rows = np.asarray(x, dtype=np.float64) / self.s.scale
        if self.store is not None:
            shared = self._observe_shared(client, rows, probs, flagged, now)
            if shared is not None:
                return shared
        st = self.clients.get(client)
        if st is None:
            st = self.clients[client] = ClientState(rows.shape[1])
        nn = st.nearest(rows)
        near = self._near(probs)
        finite = nn[np.isfinite(nn)]
        st.dist.extend(finite.tolist())
        st.dups.extend((finite < self.s.dup_eps).tolist())
        st.ood.extend(np.asarray(flagged, dtype=bool).tolist())
        st.boundary.extend(near.tolist())
        st.rows += len(rows)
        st.since_test += len(rows)
        return self._judge(st, len(rows), now)

    def _near(self, probs: np.ndarray) -> np.ndarray:
        """Rows whose top-1 minus top-2 probability is under the boundary margin."""
        if probs.shape[1] <= 1:
            return np.zeros(len(probs), dtype=bool)
        top2 = np.partition(probs, -2, axis=1)[:, -2:]
        out: np.ndarray = (top2[:, 1] - top2[:, 0]) < self.s.boundary_margin
        return out

    def _observe_shared(self, client: str, rows: np.ndarray, probs: np.ndarray,
                        flagged: np.ndarray, now: float) -> list[Signal] | None:
        """Judge on the replicas' shared state; None (judge locally) when the store fails."""
        from cpmap.monitor.probestore import ProbeStoreError

        if time.monotonic() < self._retry_at:  # a failed store is tried again in 5 s,
            return None  # not on every request (each try may wait for its timeout)
        try:
            view = self.store.read_and_append(client, rows)
        except ProbeStoreError as e:
            if not self._store_down:
                log.error("probing state store failed (%s); judging this replica's own "
                          "traffic until it is back", e)
                self._store_down = True
            self._retry_at = time.monotonic() + STORE_RETRY_S
            return None
        self._store_down = False
        nn = _nn(view.ring, rows)
        finite = nn[np.isfinite(nn)]
        dist, dups = finite.tolist(), (finite < self.s.dup_eps).tolist()
        ood, near = np.asarray(flagged, dtype=bool).tolist(), self._near(probs).tolist()
        try:
            self.store.append(client, dist, dups, ood, near)
        except ProbeStoreError as e:
            log.error("probing state store failed (%s) while appending", e)
        st = SharedState(view, dist, dups, ood, near, len(rows))
        if len(self._shared_rows) > 100_000:
            self._shared_rows.clear()
        self._shared_rows[client] = st.rows
        return self._judge(st, len(rows), now)

    def _judge(self, st: ClientState | SharedState, n_new: int, now: float) -> list[Signal]:
        out: list[Signal] = []
        n = len(st.ood)
        k_ood, k_near = st.ood.count, st.boundary.count
        if n >= 16 and k_ood >= critical(n, self.fpr):
            out.append(Signal("ood-probing", "AML.T0015", f"{k_ood}/{n} recent queries out of "
                              "distribution", {"ood": k_ood, "window": n}))
        if n >= 32 and k_near >= critical(n, round(max(self.s.boundary_rate, 1e-3), 6)):
            out.append(Signal("extraction", "AML.T0024.002", f"{k_near}/{n} recent queries "
                              "near a decision boundary", {"near_boundary": k_near,
                                                           "window": n}))
        if len(st.dist) >= MIN_DISTANCES and st.since_test >= TEST_EVERY:
            st.since_test = 0
            w = shapiro_w(np.asarray(st.dist))
            if w < self.s.prada_w:
                out.append(Signal("extraction", "AML.T0024.002", f"query distances are not "
                                  f"natural (PRADA W={w:.3f} < {self.s.prada_w:.3f})",
                                  {"prada_w": round(w, 4), "window": len(st.dist)}))
        if st.dups.count >= self.s.dup_limit:
            out.append(Signal("membership-probing", "AML.T0024.000", f"{st.dups.count} "
                              "near-duplicate queries around earlier ones",
                              {"near_duplicates": st.dups.count}))
        per_min = st.rate(n_new, now)
        if per_min > self.s.harvest_rows_per_minute:
            out.append(Signal("cost-harvesting", "AML.T0034", f"{per_min} rows in the last "
                              "minute", {"rows_per_minute": per_min}))
        return out


def calibrate(x: np.ndarray, probs: np.ndarray, seed: int = 0, clients: int = 200,
              window: int = MIN_DISTANCES + 1) -> ProbeSettings:
    """Thresholds from simulated natural clients (random orderings of in-distribution rows)."""
    rng = np.random.default_rng(seed)
    scale = float(np.sqrt(np.mean(np.var(x, axis=0))) or 1.0)
    rows = np.asarray(x, dtype=np.float64) / scale
    ws, dists = [], []
    for _ in range(clients):
        idx = rng.choice(len(rows), size=min(window, len(rows)), replace=False)
        d = _nn(np.zeros((0, rows.shape[1])), rows[idx])[1:]
        dists.append(d)
        ws.append(shapiro_w(d[-RING:]))
    alld = np.concatenate(dists)
    top2 = np.sort(probs, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    boundary = float(np.quantile(margin, 0.05))
    return ProbeSettings(scale=scale, prada_w=float(np.min(ws)) * 0.99,
                         dup_eps=float(np.quantile(alld, 0.01)) * 0.25,
                         boundary_margin=max(boundary, 1e-6),
                         boundary_rate=float(np.mean(margin < max(boundary, 1e-6))))
