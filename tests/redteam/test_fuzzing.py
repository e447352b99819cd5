"""Fuzzing: what each kind of model misbehaviour becomes, and that probes are minimal."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

from cpmap.errors import InputError
from cpmap.redteam.fuzz_inputs import PROBES, Case, probes
from cpmap.redteam.fuzzing import check_probabilities, failures_by_rule, fuzz, local_caller
from cpmap.redteam.shadow import TorchClassifier

SHAPE = (64,)


def _careful(x: Any) -> np.ndarray:
    """A model that validates like the CP4 adapters: refuses bad input with InputError."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiub":
        raise TypeError("numeric arrays only")
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 64 or not np.isfinite(arr).all() \
            or (arr < 0).any() or (arr > 1).any():
        raise InputError("bad input")
    return np.full((len(arr), 10), 0.1)


def test_unvalidated_torch_model_yields_nonfinite_and_unvalidated(mlp: TorchClassifier) -> None:
    report = fuzz(local_caller(mlp.predict_proba, 10), SHAPE, (0.0, 1.0), examples=15, seed=1)
    outcomes = report.metrics()["outcomes"]
    assert outcomes["nan"] == "invalid-output"
    assert outcomes["out_of_range"] == "accepted-invalid"
    rules = failures_by_rule(report)
    assert {"CP5-FUZZ-NONFINITE", "CP5-FUZZ-UNVALIDATED"} <= set(rules)
    nan = next(r for r in report.results if r.probe == "nan")
    assert "shape=(1, 64)" in nan.example  # shrunk to a batch of one row


def test_validating_model_has_no_findings() -> None:
    report = fuzz(local_caller(_careful, 10), SHAPE, (0.0, 1.0), examples=15, seed=2)
    assert report.failures() == []
    assert report.calls > 0


def test_crash_and_hang_are_classified() -> None:
    def crashes(x: Any) -> np.ndarray:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    def hangs(x: Any) -> np.ndarray:
        time.sleep(2)
        return np.full((1, 10), 0.1)

    crash = fuzz(local_caller(crashes, 10), SHAPE, (0.0, 1.0), ["nan"], 5, 0)
    assert crash.results[0].outcome.kind == "crash"
    assert "RuntimeError" in crash.results[0].outcome.detail
    hang = fuzz(local_caller(hangs, 10, timeout_s=0.2), SHAPE, (0.0, 1.0), ["empty"], 3, 0, 0.2)
    assert hang.results[0].outcome.kind == "hang"
    assert hang.results[0].calls == 1  # a stuck model is not fed more inputs


@pytest.mark.parametrize(("answer", "kind"), [
    (np.full((2, 10), np.nan), "invalid-output"),
    (np.full((2, 10), 0.5), "invalid-output"),
    (np.full((3, 10), 0.1), "invalid-output"),
    (np.full((2, 9), 1 / 9), "invalid-output"),
    ("not numbers", "invalid-output"),
    (np.full((2, 10), 0.1), "ok"),
])
def test_check_probabilities(answer: Any, kind: str) -> None:
    case = Case(np.zeros((2, 64), np.float32), False, "valid")
    assert check_probabilities(answer, case, 10).kind == kind


def test_unknown_probe_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fuzzing probes"):
        fuzz(local_caller(_careful, 10), SHAPE, (0.0, 1.0), ["nope"])


_ALL = probes(SHAPE, (0.0, 1.0))


@settings(max_examples=30, deadline=None)
@given(_ALL["nan"])
def test_nan_probe_always_holds_a_nan(case: Case) -> None:
    assert np.isnan(case.value).any() and case.invalid


@settings(max_examples=30, deadline=None)
@given(_ALL["out_of_range"])
def test_out_of_range_probe_is_finite_and_outside_bounds(case: Case) -> None:
    v = case.value
    assert np.isfinite(v).all() and ((v < 0) | (v > 1)).any()


@settings(max_examples=30, deadline=None)
@given(_ALL["wrong_shape"])
def test_wrong_shapes_are_never_a_valid_batch(case: Case) -> None:
    shape = case.value.shape
    assert shape[1:] != SHAPE and shape != SHAPE


@settings(max_examples=20, deadline=None)
@given(_ALL["image_bytes"])
def test_image_probe_is_bytes(case: Case) -> None:
    assert isinstance(case.value, bytes)


def test_every_probe_has_a_strategy() -> None:
    assert set(PROBES) == set(_ALL)
