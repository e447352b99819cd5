"""Black-box attacks that only query a :class:`~cpmap.models.Model`: Square and HopSkipJump.

They need no gradients, so they work on scikit-learn models, ONNX models and remote endpoints,
and they are the check that white-box robustness is not gradient masking. Both are vectorized
across rows (one ``predict_proba`` call per step for the whole batch), seeded, and count every
row they send as a query.

* Square (Andriushchenko et al. 2020), L-inf, score-based: random square (or, for tables,
  strip) updates at the corners of the eps-box, kept when they lower the margin. The margin
  is taken on the logits in float64 when the model exposes them (a saturated softmax rounds
  every probability to 0 or 1 in float32, which leaves a probability margin flat and the
  attack stalled), else on log-probabilities.
* HopSkipJump (Chen et al. 2020), L-inf, decision-based (labels only): walks along the decision
  boundary using Monte-Carlo gradient-direction estimates; it returns each row's smallest
  adversarial distance found, so one run answers every eps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cpmap.models.protocol import Model


@dataclass
class QueryCounter:
    """Wraps a model and counts the rows sent to it."""

    model: Model
    queries: int = 0
    scores: Callable[[np.ndarray], np.ndarray] | None = None  # float64 logits, when known

    def proba(self, x: np.ndarray) -> np.ndarray:
        self.queries += len(x)
        return np.asarray(self.model.predict_proba(x.astype(np.float32)), dtype=np.float64)

    def margin(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The true class's margin over the best other class (positive: still correct)."""
        if self.scores is None:
            return _margin(self.proba(x), y)
        self.queries += len(x)
        z = np.asarray(self.scores(x.astype(np.float32)), dtype=np.float64)
        rows = np.arange(len(y))
        own = z[rows, y].copy()
        z[rows, y] = -np.inf
        out: np.ndarray = own - z.max(1)
        return out

    def labels(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.proba(x).argmax(1)
        return out


def _margin(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log p_y - max_{j != y} log p_j: the logit margin, recoverable from probabilities."""
    logp = np.log(np.clip(p, 1e-12, 1.0))
    own = logp[np.arange(len(y)), y]
    logp[np.arange(len(y)), y] = -np.inf
    out: np.ndarray = own - logp.max(1)
    return out


def _p_schedule(p_init: float, it: int, n_iters: int) -> float:
    i = int(it / max(n_iters, 1) * 10000)
    for limit, div in ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32),
                       (4000, 64), (6000, 128), (8000, 256)):
        if i <= limit:
            return p_init / div
    return p_init / 512


def square(model: Model, x: np.ndarray, y: np.ndarray, eps: float, *, n_iters: int = 300,
           p_init: float = 0.1, seed: int = 0, image_shape: tuple[int, int, int] | None = None,
           box: tuple[float, float] = (0.0, 1.0),
           scores: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray, int]:
    """Square attack, L-inf: (adversarial rows, queries used); ``scores``: the logits."""
    rng = np.random.default_rng(seed)
    q = QueryCounter(model, scores=scores)
    n, dim = x.shape
    c, h, w = image_shape or (1, 1, dim)
    lo, hi = box
    img = x.reshape(n, c, h, w).astype(np.float64)
    delta = eps * rng.choice([-1.0, 1.0], size=(n, c, 1, w))
    adv = np.clip(img + delta, lo, hi)
    margin = q.margin(adv.reshape(n, dim), y)
    rows, cols = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
    for it in range(n_iters):
        active = np.flatnonzero(margin > 0)
        if len(active) == 0:
            break
        p = _p_schedule(p_init, it, n_iters)
        if h == 1:
            sh, sw = 1, min(w, max(1, round(p * w)))
        else:
            sh = sw = min(h, w, max(1, round(math.sqrt(p * h * w))))
        k = len(active)
        top = rng.integers(0, h - sh + 1, k)[:, None, None]
        left = rng.integers(0, w - sw + 1, k)[:, None, None]
        mask = (rows >= top) & (rows < top + sh) & (cols >= left) & (cols < left + sw)
        signs = eps * rng.choice([-1.0, 1.0], size=(k, c, 1, 1))
        cur = adv[active] - img[active]
        new_delta = np.where(mask[:, None], signs, cur)
        cand = np.clip(img[active] + new_delta, lo, hi)
        m_new = q.margin(cand.reshape(k, dim), y[active])
        better = m_new < margin[active]
        adv[active[better]] = cand[better]
        margin[active[better]] = m_new[better]
    return adv.reshape(n, dim).astype(np.float32), q.queries


def _linf(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.abs(a - b).max(1)
    return out


def _clip_ball(x: np.ndarray, adv: np.ndarray, r: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.clip(adv, x - r[:, None], x + r[:, None])
    return out


def _binary_search(q: QueryCounter, x: np.ndarray, adv: np.ndarray, y: np.ndarray,
                   theta: float, steps: int = 15) -> np.ndarray:
    """Move each adversarial row as close to its original as the boundary allows (L-inf)."""
    high = _linf(x, adv)
    low = np.zeros_like(high)
    for _ in range(steps):
        if np.all(high - low <= theta):
            break
        mid = (high + low) / 2
        is_adv = q.labels(_clip_ball(x, adv, mid)) != y
        high = np.where(is_adv, mid, high)
        low = np.where(is_adv, low, mid)
    return _clip_ball(x, adv, high)


def hop_skip_jump(model: Model, x: np.ndarray, y: np.ndarray, *, iterations: int = 15,
                  init_evals: int = 50, max_evals: int = 200, seed: int = 0,
                  box: tuple[float, float] = (0.0, 1.0)) -> tuple[np.ndarray, int]:
    """HopSkipJump, L-inf, untargeted: (smallest L-inf distance per row or inf, queries)."""
    rng = np.random.default_rng(seed)
    q = QueryCounter(model)
    n, dim = x.shape
    lo, hi = box
    x = x.astype(np.float64)
    adv = x.copy()
    found = np.zeros(n, bool)
    for _ in range(20):  # random uniform starting points until every row has one, or give up
        todo = np.flatnonzero(~found)
        if len(todo) == 0:
            break
        cand = rng.uniform(lo, hi, size=(len(todo), dim))
        ok = q.labels(cand) != y[todo]
        adv[todo[ok]] = cand[ok]
        found[todo[ok]] = True
    dist = np.full(n, np.inf)
    idx = np.flatnonzero(found)
    if len(idx) == 0:
        return dist, q.queries
    xs, ys, theta = x[idx], y[idx], (hi - lo) / (dim * dim)
    cur = _binary_search(q, xs, adv[idx], ys, theta)
    for t in range(iterations):
        d = _linf(xs, cur)
        probe = (0.1 * (hi - lo) if t == 0 else dim * theta) * np.maximum(d, 1e-6)
        k = min(max_evals, int(init_evals * math.sqrt(t + 1)))
        u = rng.uniform(-1, 1, size=(len(xs), k, dim))
        u /= np.linalg.norm(u, axis=2, keepdims=True) + 1e-12
        samples = np.clip(cur[:, None] + probe[:, None, None] * u, lo, hi)
        phi = (q.labels(samples.reshape(-1, dim)).reshape(len(xs), k) != ys[:, None]) * 2.0 - 1
        mean = phi.mean(1, keepdims=True)
        phi = np.where(np.abs(mean) == 1, phi, phi - mean)
        direction = np.sign((phi[:, :, None] * u).mean(1))
        step = 2.0 * d / math.sqrt(t + 1)
        moved = cur.copy()
        pending = np.ones(len(xs), bool)
        for _half in range(12):
            trial = np.clip(cur + step[:, None] * direction, lo, hi)
            ok = pending & (q.labels(trial) != ys)
            moved[ok] = trial[ok]
            pending &= ~ok
            if not pending.any():
                break
            step = np.where(pending, step / 2, step)
        cur = _binary_search(q, xs, moved, ys, theta)
    dist[idx] = _linf(xs, cur)
    return dist, q.queries
