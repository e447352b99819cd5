"""Performance windows: a significant drop alerts, a tiny window cannot, the label-free
estimate is marked as one."""

from __future__ import annotations

import numpy as np

from cpmap.drift.performance import estimated, join, labelled

CLASSES = ("0", "1")


def _window(rng: np.random.Generator, n: int, acc: float, start: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, n)
    right = rng.random(n) < acc
    return np.where(right, y, 1 - y), y, start + rng.random(n) * 3000


def test_a_drop_is_a_test_not_a_fixed_delta() -> None:
    rng = np.random.default_rng(0)
    parts = [_window(rng, 400, 0.95, 0), _window(rng, 400, 0.80, 3600),
             _window(rng, 5, 0.6, 7200)]
    pred, y, ts = (np.concatenate(p) for p in zip(*parts, strict=True))
    r = labelled(pred, y, ts, CLASSES, 0.95, 3600)
    assert [w.rows for w in r.windows] == [400, 400, 5]
    first, second, tiny = r.windows
    assert not first.dropped and second.dropped
    assert second.p_adjusted is not None and second.p_adjusted < 1e-6
    assert tiny.p_value is None and not tiny.dropped  # 5 rows: not tested at all
    assert second.macro_f1 is not None and set(second.recall) == {"0", "1"}
    assert [w.to_dict()["estimated"] for w in r.windows] == [False] * 3


def test_the_estimate_without_labels_is_marked() -> None:
    rng = np.random.default_rng(1)
    conf = np.r_[rng.uniform(0.9, 1.0, 200), rng.uniform(0.5, 0.8, 200)]
    ts = np.r_[np.zeros(200), np.full(200, 3600.0)]
    r = estimated(conf, ts, 0.95, 3600)
    assert r.estimated and all(w.estimated for w in r.windows)
    assert [w.dropped for w in r.windows] == [False, True]
    assert r.windows[1].accuracy is not None and abs(r.windows[1].accuracy - 0.65) < 0.03


def test_join_by_request_id_and_row() -> None:
    entries = [{"id": "a", "ts": 1.0, "predictions": [1, 0]}, {"id": "b", "ts": 2.0,
                                                               "predictions": [1]}]
    labels = {("a", 0): "1", ("a", 1): "1", ("b", 0): "0", ("zz", 0): "1"}
    pred, y, ts, unmatched = join(entries, labels, CLASSES)
    assert pred.tolist() == [1, 0, 1] and y.tolist() == [1, 1, 0] and unmatched == 1
