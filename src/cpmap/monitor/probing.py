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
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RING = 256  # queries kept per client
MIN_DISTANCES = 48  # before the PRADA test runs
TEST_EVERY = 16  # rows between two PRADA tests of one client
ALPHA = 1e-4  # binomial tests: a natural client is flagged this rarely per test


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


@dataclass
class ClientState:
    ring: deque[np.ndarray] = field(default_factory=lambda: deque(maxlen=RING))
    dist: deque[float] = field(default_factory=lambda: deque(maxlen=RING))
    ood: deque[bool] = field(default_factory=lambda: deque(maxlen=RING))
    boundary: deque[bool] = field(default_factory=lambda: deque(maxlen=RING))
    rows: int = 0
    since_test: int = 0
    minute: deque[tuple[float, int]] = field(default_factory=deque)


class ProbeDetector:
    """Judges each client's stream of queries; returns the signals its new rows raise."""

    def __init__(self, settings: ProbeSettings, fpr: float) -> None:
        self.s, self.fpr = settings, max(fpr, 1e-4)
        self.clients: dict[str, ClientState] = {}

    def observe(self, client: str, x: np.ndarray, probs: np.ndarray,
                flagged: np.ndarray) -> list[Signal]:
        st = self.clients.setdefault(client, ClientState())
        rows = np.asarray(x, dtype=np.float64) / self.s.scale
        ring = np.asarray(st.ring) if st.ring else np.zeros((0, rows.shape[1]))
        nn = _nn(ring, rows)
        top2 = np.sort(probs, axis=1)[:, -2:] if probs.shape[1] > 1 else np.ones((len(x), 2))
        near = (top2[:, 1] - top2[:, 0]) < self.s.boundary_margin
        start = 0 if st.ring else 1  # the very first query has no predecessor
        st.dist.extend(float(d) for d in nn[start:])
        st.ring.extend(rows)
        st.ood.extend(bool(f) for f in flagged)
        st.boundary.extend(bool(b) for b in near)
        st.rows += len(rows)
        st.since_test += len(rows)
        return self._judge(st, len(rows))

    def _judge(self, st: ClientState, n_new: int) -> list[Signal]:
        out: list[Signal] = []
        n = len(st.ood)
        k_ood, k_near = sum(st.ood), sum(st.boundary)
        if n >= 16 and binomial_p(k_ood, n, self.fpr) < ALPHA:
            out.append(Signal("ood-probing", "AML.T0015", f"{k_ood}/{n} recent queries out of "
                              "distribution", {"ood": k_ood, "window": n}))
        if n >= 32 and binomial_p(k_near, n, max(self.s.boundary_rate, 1e-3)) < ALPHA:
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
        dups = sum(1 for d in st.dist if d < self.s.dup_eps)
        if dups >= self.s.dup_limit:
            out.append(Signal("membership-probing", "AML.T0024.000", f"{dups} near-duplicate "
                              "queries around earlier ones", {"near_duplicates": dups}))
        now = time.monotonic()
        st.minute.append((now, n_new))
        while st.minute and st.minute[0][0] < now - 60:
            st.minute.popleft()
        per_min = sum(c for _, c in st.minute)
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
