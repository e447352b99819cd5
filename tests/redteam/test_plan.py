"""Plans: defaults, overrides, and one clear error for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpmap.errors import InputError
from cpmap.redteam.plan import Plan, from_dict, load_plan


def test_default_plan_runs_everything() -> None:
    plan = load_plan(None)
    assert plan == Plan()
    assert plan.sections() == ("fuzzing", "evasion", "extraction", "membership", "inversion")


def test_file_overrides_only_what_it_sets(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text('seed = 7\n[evasion]\neps = 0.05\nblack_box = ["square"]\n'
                    '[inversion]\nenabled = false\n')
    plan = load_plan(path)
    assert plan.seed == 7 and plan.evasion.eps == 0.05 and plan.evasion.black_box == ("square",)
    assert plan.evasion.samples == Plan().evasion.samples
    assert "inversion" not in plan.sections()


@pytest.mark.parametrize(("data", "message"), [
    ({"evasoin": {}}, "unknown plan key 'evasoin'"),
    ({"evasion": {"epz": 0.1}}, "evasion.epz: unknown key"),
    ({"evasion": {"eps": "big"}}, "expected a non-negative number"),
    ({"evasion": {"eps": 2.0}}, "at most 1"),
    ({"fuzzing": {"probes": ["nan", "lasers"]}}, "unknown lasers"),
    ({"fuzzing": {"enabled": "yes"}}, "expected true or false"),
    ({"extraction": {"budgets": []}}, "budgets must be positive"),
    ({"membership": {"reference": "magic"}}, "not one of mlp, target"),
    ({"membership": {"reference_models": 0}}, "at least 1"),
    ({"seed": -1}, "non-negative integer"),
    ({"inversion": 3}, "must be a table"),
    ({"evasion": {"eps": float("nan")}}, "evasion.eps: expected a non-negative number"),
    ({"fuzzing": {"timeout_s": float("inf")}}, "fuzzing.timeout_s: expected"),
    ({"fuzzing": {"timeout_s": 0}}, "timeout_s must be positive"),
    ({"fuzzing": {"examples": 0}}, "fuzzing.examples must be at least 1"),
    ({"evasion": {"samples": 0}}, "evasion.samples must be at least 1"),
    ({"extraction": {"outputs": []}}, "extraction.outputs must name"),
    ({"extraction": {"budgets": [10**7]}}, "budgets must be at most"),
    ({"extraction": {"decimals": 1000}}, "decimals must be at most"),
    ({"membership": {"attacks": []}}, "membership.attacks must name"),
    ({"seed": 10**20}, "seed: expected a non-negative integer up to"),
])
def test_bad_plans_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        from_dict(data, "p.toml")


def test_zero_counts_are_fine_in_disabled_sections() -> None:
    plan = from_dict({"fuzzing": {"enabled": False, "examples": 0},
                      "evasion": {"enabled": False, "samples": 0}}, "p.toml")
    assert plan.sections() == ("extraction", "membership", "inversion")


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read plan"):
        load_plan(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[evasion\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_plan(bad)
