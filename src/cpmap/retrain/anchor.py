"""The poisoning check of a new batch against the fixed training anchor, with CP9's machinery
(:mod:`cpmap.drift.poisoning`), so the intake and ``cpmap monitor poisoning`` give one verdict.

Two of CP9's tests run on every batch:

- the **label disagreement** by class (:func:`cpmap.drift.poisoning.disagreement`): the batch's
  labels are compared with what the anchor says about the same region of input space (the
  majority label of the ``k`` nearest anchor rows, a model-free reference that needs no trained
  model), against the anchor's own leave-one-out disagreement for that class (its natural label
  noise, playing the golden set's part): one-sided Fisher tests, BH across classes. Label
  flipping and targeted relabelling show here.
- the **cumulative comparison** with the anchor (:func:`cpmap.drift.poisoning.check`): the
  batch is the last of the rounds since the anchor (the accepted batches of earlier runs
  against the same production version, then the earlier batches of this run), and the CUSUMs of
  label shares and feature means over those rounds alarm when a slow walk away from the anchor
  adds up, though each batch alone looks clean. By default only the label CUSUM may refuse a
  batch: inputs that drifted are what retraining is for (a drift alert is a trigger), so the
  feature CUSUM is reported and judged only with ``[retraining] poisoning_features = true``.

The verdict is CP9's (:attr:`cpmap.drift.poisoning.PoisonResult.poisoned`). A batch under
:data:`MIN_ROWS` is "not estimable" and is not called poisoned. Rows outside the anchor's value
range are counted too (a cheap out-of-range signal, reported, not judged).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cpmap.drift.poisoning import PoisonPolicy, PoisonResult, Round, check, disagreement

MIN_ROWS = 20  # below this no class has the rows to show a disagreement


@dataclass(frozen=True)
class AnchorResult:
    result: PoisonResult  # CP9's result: the rounds' CUSUMs and the disagreement table
    disagreeing: int  # batch rows whose label differs from the anchor's neighbours
    out_of_range: int
    rows: int
    estimable: bool

    @property
    def poisoned(self) -> bool:
        return self.estimable and self.result.poisoned

    @property
    def last(self) -> Any:
        return self.result.rounds[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"check": "poisoning", "rows": self.rows, "poisoned": self.poisoned,
                "estimable": self.estimable, "disagreeing": self.disagreeing,
                "out_of_range": self.out_of_range,
                "disagreement": self.result.disagreement,
                "rounds": len(self.result.rounds), "cusum": self.last.to_dict(),
                "k": self.result.policy.k, "h": self.result.policy.h}

    def reason(self) -> str:
        if not self.estimable:
            return f"{self.rows} rows: not estimable (needs at least {MIN_ROWS})"
        table = self.result.disagreement
        out = []
        flagged = [c for c in table.get("classes", []) if c.get("flagged")]
        if flagged:
            worst = max(flagged, key=lambda c: float(c["disagree"]) - float(c["golden_error"]))
            out.append(f"labels disagree with the training anchor's nearest neighbours in "
                       f"class(es) {', '.join(str(c['class']) for c in flagged)} "
                       f"({self.disagreeing}/{self.rows} rows in all; class {worst['class']}: "
                       f"{float(worst['disagree']):.1%} vs the anchor's own "
                       f"{float(worst['golden_error']):.1%}, BH-adjusted p "
                       f"{worst['p_adjusted']})")
        if self.last.flagged:
            out.append(f"cumulative shift from the training anchor over "
                       f"{len(self.result.rounds)} round(s) (CUSUM labels "
                       f"{self.last.label_cusum:.1f}, features {self.last.feature_cusum:.1f} "
                       f"> {self.result.policy.h}; worst class {self.last.worst_class}, "
                       f"feature {self.last.worst_feature})")
        if out:
            return "; ".join(out)
        return (f"labels agree with the training anchor's nearest neighbours "
                f"({self.disagreeing}/{self.rows} rows differ, within the anchor's own noise); "
                f"no cumulative shift over {len(self.result.rounds)} round(s)")


def _neighbour_labels(ax: np.ndarray, ay: np.ndarray, x: np.ndarray, k: int,
                      skip_self: bool) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=min(len(ax), k + int(skip_self))).fit(ax)
    idx = nn.kneighbors(x, return_distance=False)
    if skip_self:
        idx = idx[:, 1:]
    votes = ay[idx]
    return np.array([np.bincount(v).argmax() for v in votes])


def _anchor_noise(ax: np.ndarray, ay: np.ndarray, classes: int, k: int, sample: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """By class: how many of a sample of anchor rows their own neighbours mislabel, of how
    many (the reference error CP9 takes from the golden set)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(ax), size=min(sample, len(ax)), replace=False)
    own = _neighbour_labels(ax, ay, ax[pick], k, skip_self=True)
    truth = ay[pick]
    wrong = np.array([int(np.sum(own[truth == c] != c)) for c in range(classes)])
    rows = np.array([int(np.sum(truth == c)) for c in range(classes)])
    return wrong, rows


def intake_policy(features: bool = False) -> PoisonPolicy:
    """CP9's default policy; the feature CUSUM judged only when ``features``."""
    return PoisonPolicy(feature_alarms=features)


def compare(anchor_x: np.ndarray, anchor_y: np.ndarray, x: np.ndarray, y: np.ndarray,
            classes: Sequence[str], *, earlier: Sequence[Round] = (), name: str = "batch",
            policy: PoisonPolicy | None = None, k: int = 5, sample: int = 500,
            seed: int = 0) -> AnchorResult:
    """Judge a batch ``(x, y)`` (labels as class indices) against the anchor, after the
    ``earlier`` rounds; see the module doc."""
    policy = policy or intake_policy()
    ay = anchor_y.astype(np.int64)
    yi = y.astype(np.int64)
    lo, hi = float(anchor_x.min()), float(anchor_x.max())
    out_of_range = int(((x < lo - 1e-6) | (x > hi + 1e-6)).any(axis=1).sum()) if len(x) else 0
    result = check(Round(anchor_x, ay, "anchor"), [*earlier, Round(x, yi, name)], classes,
                   policy=policy)
    if len(x) == 0:
        return AnchorResult(result, 0, 0, 0, False)
    pred = _neighbour_labels(anchor_x, ay, x, k, skip_self=False)
    wrong, rows = _anchor_noise(anchor_x, ay, len(classes), k, sample, seed)
    table = disagreement(pred, yi, wrong, rows, classes, policy.alpha)
    result = replace(result, disagreement=table)
    return AnchorResult(result, int(np.sum(pred != yi)), out_of_range, len(x),
                        len(x) >= MIN_ROWS)
