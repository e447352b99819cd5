"""The [gate] policy: defaults written by `cpmap init`, overrides, and strict checking."""

from __future__ import annotations

import tomllib

import pytest

from cpmap.core import config
from cpmap.errors import InputError
from cpmap.gate.policy import Policy, defaults, from_config, policy_toml


def test_init_writes_the_defaults() -> None:
    written = tomllib.loads(config.default_toml("x", policy_toml()))["gate"]
    assert from_config(written).to_dict() == Policy(defaults()).to_dict()
    assert {k.upper() for k in written} == set(defaults())


def test_overrides_and_env_style_keys() -> None:
    p = from_config({"CP4": {"min_robust_accuracy": 0.7}, "cp2_required": True,
                     "cp5_max_membership_tpr_at_0_1pct_fpr": 0.01})
    assert p.rule("CP4").min_robust_accuracy == 0.7
    assert p.required("CP2")
    assert p.rule("CP5").max_membership_tpr_at_0_1pct_fpr == 0.01


def test_env_override_reaches_the_policy(ws, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from cpmap.core.workspace import open_workspace
    from cpmap.gate.policy import load

    monkeypatch.setenv("CPMAP_GATE_CP4_MIN_ROBUST_ACCURACY", "0.9")
    assert load(open_workspace(ws.root)).rule("CP4").min_robust_accuracy == 0.9


@pytest.mark.parametrize("bad", [
    {"CP4": {"min_robust_acuracy": 0.5}},  # misspelt key must not silently weaken the gate
    {"CP11": {"required": True}},
    {"CP4": {"eps": "high"}},
    {"CP4": {"eps": -1}},
    {"CP1": {"required": "yes"}},
    {"CP3": {"fail_severity": "severe"}},
    {"CP6": {"card_fields": "intended_use"}},
    {"threshold": 3},
    {"CP4": {"min_robust_accuracy": float("nan")}},  # NaN passes every comparison
    {"CP4": {"eps": float("inf")}},
    {"CP2": {"min_k": float("inf")}},
    {"CP3": {"model_files": "Safe"}},  # anything but "safe" used to skip the check
])
def test_bad_policies_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InputError):
        from_config(bad)


def test_model_files_any_is_accepted() -> None:
    assert from_config({"CP3": {"model_files": "any"}}).rule("CP3").model_files == "any"


def test_nan_from_the_environment_is_refused(ws, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from cpmap.core.workspace import open_workspace
    from cpmap.gate.policy import load

    monkeypatch.setenv("CPMAP_GATE_CP4_MIN_ROBUST_ACCURACY", "nan")
    with pytest.raises(InputError, match="min_robust_accuracy: expected a finite number"):
        load(open_workspace(ws.root))
