"""Per-feature drift tests: false-alarm control, effects, categories, missing values, small
samples, and the multivariate test on a correlation change with equal marginals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cpmap.drift.engine import compare
from cpmap.drift.frame import Side
from cpmap.drift.policy import DriftPolicy


def _frame(rng: np.random.Generator, n: int, d: int = 16) -> pd.DataFrame:
    return pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(d)})


def _false_alarms(correction: str, runs: int = 60) -> int:
    """Runs (of 16 clean features) with at least one feature called drifted."""
    policy = DriftPolicy(correction=correction, min_effect=0.0)
    rng = np.random.default_rng(11)
    alarms = 0
    for _ in range(runs):
        r = compare(Side(_frame(rng, 300), "r"), Side(_frame(rng, 300), "c"), policy,
                    multivariate=False)
        alarms += bool(r.drifted)
    return alarms


def test_sixteen_clean_features_rarely_raise_an_alarm_with_bh() -> None:
    corrected, raw = _false_alarms("bh"), _false_alarms("none")
    # BH at 0.05 under the global null: P(any alarm) <= 0.05; 60 runs -> mean 3, 99.9% <= 10
    assert corrected <= 10
    # uncorrected: 1 - 0.95**16 = 56% of runs would alarm
    assert raw >= 20 and raw > 3 * corrected


def test_a_shifted_feature_drifts_with_its_effect_and_the_others_do_not() -> None:
    rng = np.random.default_rng(1)
    ref, cur = _frame(rng, 2000, 8), _frame(rng, 2000, 8)
    cur["f2"] += 0.5
    r = compare(Side(ref, "r"), Side(cur, "c"))
    assert [f.name for f in r.drifted] == ["f2"] and r.drift
    f2 = next(f for f in r.features if f.name == "f2")
    assert f2.test == "ks" and f2.p_adjusted is not None and f2.p_adjusted < 1e-10
    assert f2.effect is not None and 0.35 < f2.effect < 0.65  # Wasserstein/std ~ 0.5


def test_a_significant_but_tiny_shift_is_not_drift() -> None:
    rng = np.random.default_rng(2)
    ref, cur = _frame(rng, 100_000, 1), _frame(rng, 100_000, 1)
    cur["f0"] += 0.03
    r = compare(Side(ref, "r"), Side(cur, "c"), multivariate=False)
    f = r.features[0]
    assert f.p_adjusted is not None and f.p_adjusted < 0.05  # significant...
    assert f.effect is not None and f.effect < 0.1 and f.drift is False  # ...but negligible


def test_unseen_categories_count_and_psi_js_are_reported() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"c": rng.choice(list("abc"), 3000)})
    cur = pd.DataFrame({"c": rng.choice(list("abcz"), 3000, p=[.25, .25, .2, .3])})
    r = compare(Side(ref, "r"), Side(cur, "c"), multivariate=False)
    f = r.features[0]
    assert f.kind == "categorical" and f.test == "g-test" and f.drift
    assert f.extra["unseen_current"] > 700 and f.extra["psi"] > 0.2
    same = compare(Side(ref, "r"), Side(ref.sample(frac=1, random_state=0), "c"),
                   multivariate=False)
    assert not same.drift and same.features[0].effect == 0.0


def test_a_missing_rate_change_is_its_own_test() -> None:
    rng = np.random.default_rng(4)
    ref, cur = _frame(rng, 2000, 2), _frame(rng, 2000, 2)
    cur.loc[cur.sample(frac=0.2, random_state=0).index, "f1"] = np.nan
    r = compare(Side(ref, "r"), Side(cur, "c"), multivariate=False)
    assert [f.name for f in r.drifted] == ["f1 [missing]"]
    miss = r.drifted[0]
    assert miss.kind == "missing" and abs(miss.extra["missing_current"] - 0.2) < 0.01


def test_small_samples_get_no_verdict_rather_than_a_wrong_one() -> None:
    rng = np.random.default_rng(5)
    ref, cur = _frame(rng, 500, 3), _frame(rng, 12, 3)
    cur["f0"] += 3.0  # a huge shift, but 12 rows < min_rows
    r = compare(Side(ref, "r"), Side(cur, "c"))
    assert all(f.drift is None and f.reason.startswith("no verdict") for f in r.features)
    assert r.multivariate.drift is None and not r.drift and len(r.no_verdict) == 3


def test_a_correlation_change_with_equal_marginals_is_caught_jointly() -> None:
    rng = np.random.default_rng(6)
    n = 4000
    ref = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    z = rng.multivariate_normal([0, 0], [[1, 0.8], [0.8, 1]], n)
    cur = pd.DataFrame({"a": z[:, 0], "b": z[:, 1], "c": rng.normal(size=n)})
    r = compare(Side(ref, "r"), Side(cur, "c"))
    assert r.drifted == []  # every marginal is N(0, 1)
    mv = r.multivariate
    assert mv.drift and mv.p_value is not None and mv.p_value < 1e-6
    assert mv.auc is not None and mv.auc > 0.6 and set(mv.top_features[:2]) == {"a", "b"}
    assert r.drift


def test_the_multivariate_test_is_quiet_on_clean_data() -> None:
    rng = np.random.default_rng(7)
    r = compare(Side(_frame(rng, 3000, 5), "r"), Side(_frame(rng, 3000, 5), "c"))
    assert r.multivariate.drift is False and not r.drift


def test_the_json_shape() -> None:
    rng = np.random.default_rng(8)
    d = compare(Side(_frame(rng, 200, 2), "r"), Side(_frame(rng, 200, 2), "c")).to_dict()
    assert {"drift", "features", "multivariate", "reference", "current"} <= set(d)
    assert {"name", "test", "statistic", "p_value", "effect", "drift"} <= set(d["features"][0])
    assert d["reference"] == {"name": "r", "rows": 200, "columns": 2}
