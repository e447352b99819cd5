"""Baselines: built from the lineage's training data, calibrated to the target false-alarm
rate on data the model never saw, signed, and refused for any other version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cpmap.core.workspace import Workspace
from cpmap.monitor.baseline import BaselineError, build, check_about, current
from cpmap.redteam.stats import clopper_pearson
from cpmap.registry.manifest import ModelVersion


def test_baseline_from_lineage_is_calibrated_on_unseen_natural_data(
        ws: Workspace, version: ModelVersion, digits_split: dict[str, np.ndarray]) -> None:
    from cpmap.gateway.served import load

    base, entry = build(ws, version.ref)  # the default 1% target
    assert base.model_digest == version.digest and base.entry == entry.index
    pred = entry.predicate
    assert pred["details"]["datasets"][0]["digest"] == version.lineage.datasets[0].digest
    assert pred["metrics"]["features"] == 64
    model = load(ws, version.ref).model
    x = digits_split["x_test"].astype(np.float64)  # 597 rows outside the lineage
    scores, conf = base.detector.score(x, model.predict_proba(x.astype(np.float32)))
    flagged = int((scores >= 1.0).sum())
    rate = clopper_pearson(flagged, len(x))
    # the conformal union threshold holds its false-alarm rate on unseen natural data: the
    # 95% interval of the measured rate reaches down to the target
    assert rate.lo <= 0.01, (flagged, len(x))
    m = pred["metrics"]  # held-out check rows, never used to fit or calibrate
    assert m["check_rows"] == 100 and m["calibration_rows"] == 200
    assert m["false_alarm_rate"] == m["check_false_alarms"] / 100
    assert m["false_alarm_low"] <= 0.01 < m["false_alarm_high"]
    assert "max-softmax" in pred["details"]["reported"]
    assert "energy" in pred["details"]["reported"]  # a torch model exposes its logits
    noise = np.random.default_rng(0).uniform(0, 1, (200, 64))
    s_noise, _ = base.detector.score(noise, model.predict_proba(noise.astype(np.float32)))
    assert (s_noise >= 1.0).mean() > 0.95
    assert 0.0 < conf.mean() <= 1.0


def test_current_finds_the_verified_baseline(ws: Workspace, baseline: Any,
                                             version: ModelVersion) -> None:
    got = current(ws, version.digest)
    assert got is not None and got.sha256 == baseline.sha256
    assert current(ws, "f" * 64) is None


def test_baseline_of_another_version_is_refused(ws: Workspace, baseline: Any) -> None:
    with pytest.raises(BaselineError, match="not about the version served"):
        check_about(baseline, "e" * 64)


def test_lineage_without_fitting_data_is_a_clear_error(ws: Workspace, tmp_path: Path,
                                                       model_bytes: bytes) -> None:
    from tests.gateway.conftest import register_gated

    mv = register_gated(ws, tmp_path, model_bytes, name="tiny")  # lineage: a 2-row CSV
    with pytest.raises(BaselineError, match="no training dataset in its lineage has"):
        build(ws, mv.ref)


def test_altered_baseline_object_is_refused(ws: Workspace, baseline: Any,
                                            version: ModelVersion) -> None:
    path = ws.objects_dir / "sha256" / baseline.sha256
    path.chmod(0o644)
    path.write_bytes(path.read_bytes().replace(b'"target_fpr"', b'"target_fpR"'))
    with pytest.raises(BaselineError, match="missing or does not match"):
        current(ws, version.digest)


def test_conformal_threshold_is_the_finite_sample_quantile() -> None:
    from cpmap.errors import InputError
    from cpmap.monitor.ood import conformal_threshold, min_rows

    scores = np.arange(1.0, 200.0)  # 199 rows, alpha 0.005: k = ceil(200 * 0.995) = 199
    assert conformal_threshold(scores, 0.005) == np.nextafter(199.0, np.inf)
    assert conformal_threshold(np.arange(1.0, 101.0), 0.05) == np.nextafter(96.0, np.inf)
    assert min_rows(0.005) == 199 and min_rows(0.01) == 99
    with pytest.raises(InputError, match="need at least 199"):
        conformal_threshold(scores[:198], 0.005)


def test_conformal_threshold_holds_its_rate_on_fresh_rows() -> None:
    from cpmap.monitor.ood import conformal_threshold

    rng = np.random.default_rng(0)
    rates = [float((rng.standard_t(3, 2000) >= conformal_threshold(
        rng.standard_t(3, 200), 0.02)).mean()) for _ in range(300)]
    assert float(np.mean(rates)) <= 0.02 + 0.002  # marginal guarantee, heavy tails


def test_false_alarms_are_not_estimable_on_few_rows() -> None:
    from cpmap.monitor.baseline import false_alarms

    few = false_alarms(np.zeros(50, bool), 0.01)
    assert few["estimable"] is False and few["text"].startswith("not estimable")
    got = false_alarms(np.r_[np.ones(2, bool), np.zeros(198, bool)], 0.01)
    assert got["rate"] == 0.01 and got["flagged"] == 2 and got["rows"] == 200
    assert got["ci95"][0] < 0.01 < got["ci95"][1]
