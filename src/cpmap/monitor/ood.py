"""Out-of-distribution scores in microseconds: Mahalanobis on standardized inputs, max-softmax
(and energy, where logits exist) on outputs, thresholds calibrated to a false-alarm rate.

Why these: a per-request score inside the gateway has a budget of tens of microseconds, so it
must be a fixed linear map and a few reductions, no model call. The input score is the squared
Mahalanobis distance ``||((x - mu) / sd) W||^2`` with ``W`` the Cholesky factor of a shrunk
(Ledoit-Wolf) precision matrix, so ill-conditioned pixels cannot blow it up; the output score
is ``1 - max p`` (Hendrycks & Gimpel's baseline). Each threshold is the split-conformal
quantile at ``fpr/2`` of held-out rows the detector was not fitted on (for the input score
also out-of-fold scores of the fit rows), so their union flags at most ``fpr`` of exchangeable
in-distribution traffic (Bonferroni); the reported ``ood_score`` is the larger score/threshold
ratio (``>= 1``: flagged), never the raw distance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cpmap.errors import InputError

SD_FLOOR = 1e-2  # relative to the largest feature sd: constant pixels stay finite


@dataclass(frozen=True)
class OodDetector:
    mean: np.ndarray  # (d,)
    inv_sd: np.ndarray  # (d,)
    whiten: np.ndarray  # (d, d): z @ whiten has identity covariance
    thr_in: float
    thr_out: float

    @property
    def features(self) -> int:
        return int(self.mean.shape[0])

    def input_score(self, x: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each row ``[n, d]``."""
        y = ((x - self.mean) * self.inv_sd) @ self.whiten
        out: np.ndarray = np.einsum("ij,ij->i", y, y)
        return out

    def score(self, x: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ood_score, confidence) per row; ``ood_score >= 1`` is flagged."""
        conf = probs.max(axis=1)
        s_in = self.input_score(x) / self.thr_in
        s_out = (1.0 - conf) / self.thr_out
        out: np.ndarray = np.maximum(s_in, s_out)
        return out, conf

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "inv_sd": self.inv_sd.tolist(),
                "whiten": self.whiten.tolist(), "thr_in": self.thr_in,
                "thr_out": self.thr_out}

    @classmethod
    def from_dict(cls, doc: dict[str, Any], where: str) -> OodDetector:
        try:
            mean = np.asarray(doc["mean"], dtype=np.float64)
            inv_sd = np.asarray(doc["inv_sd"], dtype=np.float64)
            whiten = np.asarray(doc["whiten"], dtype=np.float64)
            thr_in, thr_out = float(doc["thr_in"]), float(doc["thr_out"])
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{where}: not an OOD detector ({type(e).__name__})") from e
        d = mean.shape[0] if mean.ndim == 1 else -1
        if (d < 1 or inv_sd.shape != (d,) or whiten.shape != (d, d) or thr_in <= 0
                or thr_out <= 0 or not all(np.isfinite(a).all() for a in (mean, inv_sd,
                                                                            whiten))):
            raise InputError(f"{where}: OOD detector arrays do not fit {d} features")
        return cls(mean, inv_sd, whiten, thr_in, thr_out)


class Scorer:
    """The request path's view of an :class:`OodDetector`: standardization folded into the
    whitening once (``y = x W' - b`` with ``W' = diag(1/sd) W``, ``b = (mu / sd) W``), so a row
    costs one matrix-vector product and two reductions, with no temporary beyond ``y``."""

    __slots__ = ("b", "inv_in", "inv_out", "w")

    def __init__(self, det: OodDetector) -> None:
        self.w = np.ascontiguousarray(det.inv_sd[:, None] * det.whiten)
        self.b = np.ascontiguousarray((det.mean * det.inv_sd) @ det.whiten)
        self.inv_in, self.inv_out = 1.0 / det.thr_in, 1.0 / det.thr_out

    def score(self, x: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ood_score, confidence) per row, as :meth:`OodDetector.score` computes them."""
        y = np.asarray(x, dtype=np.float64) @ self.w
        y -= self.b
        s_in = np.einsum("ij,ij->i", y, y)
        s_in *= self.inv_in
        conf = probs.max(axis=1)
        s_out = 1.0 - conf
        s_out *= self.inv_out
        np.maximum(s_in, s_out, out=s_in)
        return s_in, conf

    def score_one(self, x: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
        """(ood_score, confidence) of one row ``[d]`` and its probabilities ``[k]``: the
        1-row request, as plain floats (no per-row arrays beyond ``y``)."""
        y = np.dot(x, self.w)
        y -= self.b
        conf = float(probs.max())
        return max(float(np.dot(y, y)) * self.inv_in, (1.0 - conf) * self.inv_out), conf


def fit_input(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, 1/sd, whitening) from in-distribution rows ``[n, d]`` (n > d not required)."""
    from sklearn.covariance import LedoitWolf

    if x.ndim != 2 or len(x) < 10:
        raise InputError(f"baseline data: need at least 10 rows of features, got {x.shape}")
    mean = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.maximum(sd, SD_FLOOR * max(float(sd.max()), 1e-12))
    z = (x - mean) / sd
    precision = LedoitWolf(assume_centered=True).fit(z).precision_
    whiten = np.linalg.cholesky((precision + precision.T) / 2)
    return mean, 1.0 / sd, whiten


def min_rows(alpha: float) -> int:
    """Held-out rows a conformal threshold at level ``alpha`` needs: ``(n + 1)(1 - alpha) <= n``,
    i.e. ``n >= 1/alpha - 1`` (199 rows for each half of a 1% target)."""
    return int(np.ceil((1.0 - alpha) / alpha - 1e-9))


def conformal_threshold(scores: np.ndarray, alpha: float) -> float:
    """The ``ceil((n + 1)(1 - alpha))``-th smallest of ``n`` held-out scores, nudged up one ulp so
    that flagging ``score >= threshold`` flags a new exchangeable row with probability at most
    ``alpha`` (split conformal; Vovk et al. 2005, Angelopoulos & Bates 2021)."""
    n = len(scores)
    k = int(np.ceil((n + 1) * (1.0 - alpha) - 1e-9))
    if k > n:
        raise InputError(f"{n} calibration rows cannot set a {alpha:.2%} false-alarm threshold "
                         f"(need at least {min_rows(alpha)})")
    kth = float(np.partition(np.asarray(scores, dtype=np.float64), k - 1)[k - 1])
    return float(np.nextafter(kth, np.inf))


def out_of_fold(x: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Each row's input score under a detector fitted without its fold (cross-fitting): more
    input-score calibration rows than the model's hold-out, none scored by a detector that saw
    it. Fold detectors see 4/5 of the rows, so these scores run slightly high (conservative)."""
    order = np.random.default_rng(seed).permutation(len(x))
    out = np.empty(len(x))
    for part in np.array_split(order, folds):
        rest = np.setdiff1d(order, part, assume_unique=True)
        probe = OodDetector(*fit_input(x[rest]), 1.0, 1.0)
        out[part] = probe.input_score(x[part])
    return out


def calibrate(det_in: tuple[np.ndarray, np.ndarray, np.ndarray], x_cal: np.ndarray,
              probs_cal: np.ndarray, fpr: float,
              more_in: np.ndarray | None = None) -> OodDetector:
    """Conformal thresholds at ``fpr/2`` each for the input and output scores of held-out rows
    the detector was not fitted on: their union flags at most ``fpr`` of new natural rows.
    ``more_in``: further input scores of rows no detector scoring them saw (out-of-fold)."""
    if not 0 < fpr < 1:
        raise InputError(f"target false-alarm rate {fpr}: must be between 0 and 1")
    mean, inv_sd, whiten = det_in
    probe = OodDetector(mean, inv_sd, whiten, 1.0, 1.0)
    s_in = probe.input_score(x_cal)
    thr_in = conformal_threshold(s_in if more_in is None else np.r_[s_in, more_in], fpr / 2)
    thr_out = conformal_threshold(1.0 - probs_cal.max(axis=1), fpr / 2)
    return OodDetector(mean, inv_sd, whiten, max(thr_in, 1e-9), max(thr_out, 1e-6))


def energy(logits: np.ndarray) -> np.ndarray:
    """Energy score ``-logsumexp(logits)`` (Liu et al. 2020): higher is more OOD."""
    m = logits.max(axis=1, keepdims=True)
    out: np.ndarray = -(m[:, 0] + np.log(np.exp(logits - m).sum(axis=1)))
    return out
