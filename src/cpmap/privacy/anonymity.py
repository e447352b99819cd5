"""Anonymity and re-identification risk of a table: k, l, t, uniqueness, prosecutor risk.

Records are grouped into equivalence classes by their quasi-identifier values (as released:
ranges and value sets from :mod:`cpmap.privacy.mondrian` compare as strings).

* k-anonymity: the size of the smallest class.
* l-diversity: the fewest distinct sensitive values in a class ("distinct"), and
  ``exp(min entropy)`` ("entropy"; Machanavajjhala et al. 2007).
* t-closeness: the largest Earth Mover's Distance between a class's sensitive distribution and
  the whole table's (Li et al. 2007): total variation for categories, the ordered distance
  ``sum |cumulative difference| / (m - 1)`` for numbers (binned by value to at most 100
  quantiles; tied values share a bin). l counts exact values, never bins.
* uniqueness: share of records alone in their class.
* prosecutor risk (the attacker knows the target is in the data): max ``1/k``, average
  ``classes / records``, and the share of records whose risk exceeds ``1/policy_k``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cpmap.errors import InputError

MAX_BINS = 100


@dataclass(frozen=True)
class Assessment:
    rows: int
    classes: int
    k: int
    uniqueness: float
    prosecutor_max: float
    prosecutor_avg: float
    records_at_risk: float
    l_distinct: int | None = None
    l_entropy: float | None = None
    t: float | None = None
    quasi: tuple[str, ...] = ()
    sensitive: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "classes": self.classes, "k": self.k,
                "uniqueness": round(self.uniqueness, 6),
                "prosecutor_risk_max": round(self.prosecutor_max, 6),
                "prosecutor_risk_avg": round(self.prosecutor_avg, 6),
                "records_at_risk": round(self.records_at_risk, 6),
                "l_distinct": self.l_distinct,
                "l_entropy": None if self.l_entropy is None else round(self.l_entropy, 4),
                "t_closeness": None if self.t is None else round(self.t, 6),
                "quasi": list(self.quasi), "sensitive": self.sensitive}


def class_ids(frame: pd.DataFrame, quasi: list[str]) -> np.ndarray:
    """Equivalence-class id of every record (missing values form their own class)."""
    keys = frame[quasi].astype(str)
    return np.asarray(keys.groupby(quasi, sort=False, dropna=False).ngroup().to_numpy())


def exact_codes(values: pd.Series) -> np.ndarray:
    """Integer codes of the sensitive column's exact values (what l-diversity counts).

    Two people who both earn 5000 hold the same value: binning first (as cpmap once did, with
    ``qcut`` over ranks that break ties) put them in different bins and reported l=6 for a
    class of 100 identical salaries.
    """
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    key = values.astype(float) if numeric else values.astype(str).fillna("")
    return np.asarray(pd.factorize(key, sort=True, use_na_sentinel=False)[0])


def ordered_codes(values: pd.Series) -> tuple[np.ndarray, bool]:
    """Codes for t-closeness's distance: numbers ordered (and binned by value when they hold
    more than ``MAX_BINS`` values; ties never straddle a bin), categories unordered."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if not numeric:
        return exact_codes(values), False
    v = values.astype(float)
    if v.nunique() > MAX_BINS:
        codes = pd.qcut(v, MAX_BINS, labels=False, duplicates="drop")
        codes = codes.fillna(-1).astype(int)
        return np.asarray(codes - codes.min()), True
    return exact_codes(values), True


def _t_closeness(gid: np.ndarray, codes: np.ndarray, ordered: bool) -> float:
    m = int(codes.max()) + 1
    counts = np.zeros((int(gid.max()) + 1, m))
    np.add.at(counts, (gid, codes), 1)
    p = counts / counts.sum(axis=1, keepdims=True)
    glob = counts.sum(axis=0) / counts.sum()
    if ordered and m > 1:
        t = np.abs(np.cumsum(p - glob, axis=1)).sum(axis=1) / (m - 1)
    else:
        t = 0.5 * np.abs(p - glob).sum(axis=1)
    return float(t.max())


def diversity(gid: np.ndarray, values: pd.Series) -> tuple[int, float, float]:
    """(distinct l, entropy l, t-closeness) of the sensitive column over classes ``gid``.

    l counts exact values; only t-closeness's ordered distance bins numbers.
    """
    codes = exact_codes(values)
    counts = np.zeros((int(gid.max()) + 1, int(codes.max()) + 1))
    np.add.at(counts, (gid, codes), 1)
    p = counts / counts.sum(axis=1, keepdims=True)
    distinct = int((counts > 0).sum(axis=1).min())
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    return distinct, float(np.exp(ent.min())), _t_closeness(gid, *ordered_codes(values))


def assess(frame: pd.DataFrame, quasi: list[str], sensitive: str | None = None,
           policy_k: int = 5) -> Assessment:
    if frame.empty:
        raise InputError("the table has no rows to assess")
    if not quasi:
        raise InputError("--quasi: name at least one quasi-identifier column")
    gid = class_ids(frame, quasi)
    sizes = np.bincount(gid)
    per_record = sizes[gid]
    n = len(frame)
    k = int(sizes.min())
    l_d = l_e = t = None
    if sensitive is not None:
        if sensitive in quasi:
            raise InputError(f"--sensitive {sensitive}: also listed in --quasi")
        l_d, l_e, t = diversity(gid, frame[sensitive])
    return Assessment(
        rows=n, classes=len(sizes), k=k, uniqueness=float((per_record == 1).mean()),
        prosecutor_max=1.0 / k, prosecutor_avg=len(sizes) / n,
        records_at_risk=float((1.0 / per_record > 1.0 / policy_k).mean()),
        l_distinct=l_d, l_entropy=l_e, t=t, quasi=tuple(quasi), sensitive=sensitive)


def violations(a: Assessment, k: int, l_: int | None, t: float | None,
               max_unique: float | None = None) -> list[str]:
    """Human lines for every requirement ``a`` misses."""
    out = []
    if a.k < k:
        out.append(f"k-anonymity {a.k} < required {k}")
    if l_ is not None and a.l_distinct is not None and a.l_distinct < l_:
        out.append(f"distinct l-diversity {a.l_distinct} < required {l_}")
    if t is not None and t > 0 and a.t is not None and a.t > t + 1e-12:
        out.append(f"t-closeness {a.t:.4f} > allowed {t}")
    if max_unique is not None and a.uniqueness > max_unique:
        out.append(f"{a.uniqueness:.1%} of records are unique on the quasi-identifiers "
                   f"(allowed {max_unique:.1%})")
    return out
