"""Fidelity and privacy of a synthetic table against the real one (and a real holdout).

Fidelity:
* per-column distance: Kolmogorov-Smirnov statistic for numbers, total variation distance for
  categories (0 = identical marginals, 1 = disjoint);
* correlation difference: mean absolute difference of the pairwise correlation matrices
  (categories integer-coded on a shared vocabulary);
* TSTR: a classifier trained on synthetic data and tested on real holdout data, next to the
  same classifier trained on real training data (TRTR). Close scores mean the synthetic data
  keeps what the model needs.

Privacy:
* exact-copy rate: share of synthetic rows identical to some real training row;
* distance to closest record (DCR): for each synthetic row, the distance to its nearest real
  training row, compared with the same distance for real holdout rows. Synthetic rows much
  closer to the training data than fresh real rows are (ratio << 1, or many synthetic rows
  closer than the holdout's 5th percentile) indicate memorized records.

Without a holdout the real table is split 70/30 (seeded) and only the 70% counts as training
data; the synthesizer should then have been fitted on the same 70% for the scores to mean
what they say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cpmap.core.evidence import Verdict
from cpmap.errors import InputError

MAX_ROWS = 5000


@dataclass(frozen=True)
class SynthScores:
    column_distance: dict[str, float]
    mean_column_distance: float
    correlation_difference: float
    tstr_accuracy: float | None
    trtr_accuracy: float | None
    target: str | None
    exact_copy_rate: float
    dcr_synthetic_median: float
    dcr_holdout_median: float
    dcr_ratio: float
    closer_than_holdout_p5: float
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        out = {**self.__dict__, "verdict": self.verdict.value}
        out["column_distance"] = {k: round(v, 4) for k, v in self.column_distance.items()}
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def _col_distance(a: pd.Series, b: pd.Series) -> float:
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b) and \
            a.nunique() > 15:
        return float(stats.ks_2samp(a.dropna(), b.dropna()).statistic)
    pa = a.astype(str).value_counts(normalize=True)
    pb = b.astype(str).value_counts(normalize=True)
    keys = pa.index.union(pb.index)
    return float(0.5 * np.abs(pa.reindex(keys, fill_value=0) - pb.reindex(keys, fill_value=0))
                 .sum())


def _encode(frames: list[pd.DataFrame], cols: list[str]) -> list[np.ndarray]:
    """Numbers min-max scaled on the first frame; categories one-hot (shared vocabulary)."""
    ref = frames[0]
    parts: list[list[np.ndarray]] = [[] for _ in frames]
    for c in cols:
        if pd.api.types.is_numeric_dtype(ref[c]) and ref[c].nunique() > 15:
            lo, hi = float(ref[c].min()), float(ref[c].max())
            span = hi - lo if hi > lo else 1.0
            for i, f in enumerate(frames):
                parts[i].append(((pd.to_numeric(f[c], errors="coerce").fillna(lo) - lo)
                                 / span).to_numpy()[:, None])
        else:
            vocab = sorted(set().union(*(set(f[c].astype(str)) for f in frames)))
            index = {v: j for j, v in enumerate(vocab)}
            for i, f in enumerate(frames):
                onehot = np.zeros((len(f), len(vocab)))
                onehot[np.arange(len(f)), f[c].astype(str).map(index).to_numpy()] = 1 / np.sqrt(2)
                parts[i].append(onehot)
    return [np.hstack(p) for p in parts]


def _codes(frame: pd.DataFrame, cols: list[str], vocab: dict[str, list[str]]) -> np.ndarray:
    out = []
    for c in cols:
        if c in vocab:
            index = {v: j for j, v in enumerate(vocab[c])}
            out.append(frame[c].astype(str).map(index).fillna(-1).to_numpy(dtype=float))
        else:
            out.append(pd.to_numeric(frame[c], errors="coerce").fillna(0).to_numpy(dtype=float))
    return np.column_stack(out)


def _corr_diff(real: pd.DataFrame, synth: pd.DataFrame, cols: list[str]) -> float:
    if len(cols) < 2:
        return 0.0
    vocab = {c: sorted(set(real[c].astype(str)) | set(synth[c].astype(str))) for c in cols
             if not pd.api.types.is_numeric_dtype(real[c])}
    a = np.nan_to_num(np.corrcoef(_codes(real, cols, vocab), rowvar=False))
    b = np.nan_to_num(np.corrcoef(_codes(synth, cols, vocab), rowvar=False))
    iu = np.triu_indices(len(cols), 1)
    return float(np.abs(a[iu] - b[iu]).mean())


def _tstr(train: pd.DataFrame, holdout: pd.DataFrame, synth: pd.DataFrame, target: str,
          cols: list[str], seed: int) -> tuple[float, float]:
    from sklearn.ensemble import RandomForestClassifier

    feats = [c for c in cols if c != target]
    x_tr, x_ho, x_sy = _encode([train, holdout, synth], feats)
    scores = []
    for x, y in ((x_sy, synth[target]), (x_tr, train[target])):
        clf = RandomForestClassifier(n_estimators=60, max_depth=8, random_state=seed, n_jobs=1)
        clf.fit(x, y.astype(str))
        scores.append(float((clf.predict(x_ho) == holdout[target].astype(str)).mean()))
    return scores[0], scores[1]


def _fill_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A missing value in a non-numeric column as "": pandas 3's ``astype(str)`` keeps it NaN,
    which cannot be sorted with the strings or used as a one-hot index."""
    out = frame.copy()
    for c in out.columns:
        if not pd.api.types.is_numeric_dtype(out[c]):
            out[c] = out[c].astype(str).fillna("")
    return out


def evaluate(real: pd.DataFrame, synth: pd.DataFrame, holdout: pd.DataFrame | None = None,
             target: str | None = None, seed: int = 0) -> SynthScores:
    cols = [c for c in synth.columns if c in real.columns]
    if not cols:
        raise InputError("the synthetic table shares no column with the real one")
    if target is not None and target not in cols:
        raise InputError(f"--target {target}: not a column of both tables")
    if holdout is None:
        shuffled = real.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        cut = int(len(shuffled) * 0.7)
        real, holdout = shuffled.iloc[:cut], shuffled.iloc[cut:]
    if len(holdout) < 2 or len(real) < 2:
        raise InputError("need at least 2 real training and 2 holdout rows")
    real, synth, holdout = _fill_text(real), _fill_text(synth), _fill_text(holdout)
    rs = real.sample(min(len(real), MAX_ROWS), random_state=seed)
    ss = synth.sample(min(len(synth), MAX_ROWS), random_state=seed)
    hs = holdout.sample(min(len(holdout), MAX_ROWS), random_state=seed)
    dist = {c: _col_distance(rs[c], ss[c]) for c in cols}
    tstr = trtr = None
    if target is not None:
        tstr, trtr = _tstr(rs, hs, ss, target, cols, seed)
    exact = float(ss[cols].astype(str).apply(tuple, axis=1).isin(
        set(real[cols].astype(str).apply(tuple, axis=1))).mean())
    from sklearn.neighbors import NearestNeighbors

    x_r, x_s, x_h = _encode([rs, ss, hs], cols)
    nn = NearestNeighbors(n_neighbors=1).fit(x_r)
    d_s = nn.kneighbors(x_s)[0][:, 0]
    d_h = nn.kneighbors(x_h)[0][:, 0]
    med_s, med_h = float(np.median(d_s)), float(np.median(d_h))
    ratio = med_s / med_h if med_h > 0 else (1.0 if med_s == 0 else float("inf"))
    closer = float((d_s < np.quantile(d_h, 0.05)).mean())
    verdict = Verdict.FAIL if exact > 0.05 or ratio < 0.5 else Verdict.PASS
    return SynthScores(dist, float(np.mean(list(dist.values()))), _corr_diff(rs, ss, cols), tstr,
                       trtr, target, exact, med_s, med_h, ratio, closer, verdict)
