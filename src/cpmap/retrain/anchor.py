"""The poisoning check of a new batch against the fixed training anchor (CP9's job, kept here
small and replaceable until CP9's own check is merged: :func:`compare` is the seam).

Label-flip and targeted poisoning make a batch's labels disagree with what the anchor (the
data the production version was trained on) says about the same region of input space. For each
batch row we take the majority label of its ``k`` nearest anchor rows; the batch's disagreement
rate is compared with the anchor's own leave-one-out disagreement rate (its natural label
noise). The batch is poisoned when the lower end of its Clopper-Pearson interval lies above the
upper end of the anchor's by more than ``margin``; a batch too small to tell is "not
estimable" and refused only by a policy that says so. Rows outside the anchor's value range are
counted too (a cheap out-of-range signal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cpmap.redteam.stats import Rate, clopper_pearson

MIN_ROWS = 20  # below this the interval is too wide to call a batch poisoned


@dataclass(frozen=True)
class AnchorResult:
    batch: Rate  # rows whose label disagrees with the anchor's neighbours
    anchor: Rate  # the anchor's own leave-one-out disagreement
    out_of_range: int
    rows: int
    poisoned: bool
    estimable: bool

    def to_dict(self) -> dict[str, Any]:
        return {"check": "poisoning", "disagreement": self.batch.to_dict(),
                "anchor_disagreement": self.anchor.to_dict(), "out_of_range": self.out_of_range,
                "rows": self.rows, "poisoned": self.poisoned, "estimable": self.estimable}

    def reason(self) -> str:
        if not self.estimable:
            return f"{self.rows} rows: not estimable (needs at least {MIN_ROWS})"
        return (f"labels disagree with the training anchor's nearest neighbours on "
                f"{self.batch.k}/{self.batch.n} rows ({self.batch.value:.1%}, 95% CI "
                f"{self.batch.lo:.1%}-{self.batch.hi:.1%}) vs the anchor's own "
                f"{self.anchor.value:.1%} (CI {self.anchor.lo:.1%}-{self.anchor.hi:.1%})")


def _neighbour_labels(ax: np.ndarray, ay: np.ndarray, x: np.ndarray, k: int,
                      skip_self: bool) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(len(ax), k + int(skip_self))).fit(ax)
    idx = nn.kneighbors(x, return_distance=False)
    if skip_self:
        idx = idx[:, 1:]
    votes = ay[idx]
    return np.array([np.bincount(v).argmax() for v in votes])


def compare(anchor_x: np.ndarray, anchor_y: np.ndarray, x: np.ndarray, y: np.ndarray, *,
            k: int = 5, margin: float = 0.05, sample: int = 500, seed: int = 0) -> AnchorResult:
    """Judge a batch ``(x, y)`` against the anchor (labels as class indices)."""
    rng = np.random.default_rng(seed)
    ay = anchor_y.astype(np.int64)
    pick = rng.choice(len(anchor_x), size=min(sample, len(anchor_x)), replace=False)
    own = _neighbour_labels(anchor_x, ay, anchor_x[pick], k, skip_self=True)
    anchor = clopper_pearson(int((own != ay[pick]).sum()), len(pick))
    lo, hi = float(anchor_x.min()), float(anchor_x.max())
    out_of_range = int(((x < lo - 1e-6) | (x > hi + 1e-6)).any(axis=1).sum())
    if len(x) == 0:
        return AnchorResult(clopper_pearson(0, 0), anchor, 0, 0, False, False)
    theirs = _neighbour_labels(anchor_x, ay, x, k, skip_self=False)
    batch = clopper_pearson(int((theirs != y.astype(np.int64)).sum()), len(x))
    estimable = len(x) >= MIN_ROWS
    poisoned = estimable and batch.lo > anchor.hi + margin
    return AnchorResult(batch, anchor, out_of_range, len(x), poisoned, estimable)
