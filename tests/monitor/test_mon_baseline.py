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

    base, entry = build(ws, version.ref, fpr=0.02)
    assert base.model_digest == version.digest and base.entry == entry.index
    pred = entry.predicate
    assert pred["details"]["datasets"][0]["digest"] == version.lineage.datasets[0].digest
    assert pred["metrics"]["features"] == 64
    model = load(ws, version.ref).model
    x = digits_split["x_test"].astype(np.float64)  # 597 rows outside the lineage
    scores, conf = base.detector.score(x, model.predict_proba(x.astype(np.float32)))
    flagged = int((scores >= 1.0).sum())
    rate = clopper_pearson(flagged, len(x))
    # the calibrated union threshold holds its false-alarm rate on unseen natural data
    assert rate.lo <= 0.02 * 2.5, (flagged, len(x))
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
