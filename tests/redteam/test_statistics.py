"""CP5 numbers that hold: counts and intervals, what a sample cannot estimate, float64 scores,
reference models that differ and follow the target's recipe, and the gate on the upper bound."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cpmap.core.evidence import Verdict
from cpmap.gate.kit import Item
from cpmap.redteam.campaign import split_data
from cpmap.redteam.control import CP5Rule
from cpmap.redteam.membership import lira_offline, loss_threshold, roc
from cpmap.redteam.predicates import RedteamCampaign
from cpmap.redteam.requirement import requirement
from cpmap.redteam.stats import clopper_pearson, estimable, lowest_fpr
from cpmap.redteam.target import Target


def test_clopper_pearson_matches_the_exact_binomial_interval() -> None:
    r = clopper_pearson(0, 10)
    assert r.lo == 0.0 and r.hi == pytest.approx(0.30850, abs=1e-4)
    r = clopper_pearson(5, 10)
    assert (r.lo, r.hi) == (pytest.approx(0.18709, abs=1e-4), pytest.approx(0.81291, abs=1e-4))
    assert clopper_pearson(10, 10).hi == 1.0


def test_tpr_at_an_fpr_the_non_members_cannot_resolve_is_not_estimable() -> None:
    """225 non-members: the smallest non-zero FPR is 0.44%, so 0.1% is not estimable."""
    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(1, 1, 180), rng.normal(0, 1, 225)]
    labels = np.r_[np.ones(180, bool), np.zeros(225, bool)]
    from cpmap.redteam.membership import MembershipResult

    res = MembershipResult("loss-threshold", roc(scores, labels), 180, 225, 0, 0)
    d = res.to_dict()
    assert d["tpr_at_0.1pct_fpr"] is None and res.rate(0.001) is None
    assert d["rates"][0]["note"] == ("not estimable: 225 non-members, 0.1% FPR needs at "
                                     "least 1000")
    at1 = res.rate(0.01)
    assert at1 is not None and at1.n == 180 and at1.lo <= at1.value <= at1.hi
    assert d["rates"][1]["count"] == [at1.k, 180]
    lo, hi = d["auc_ci95"]
    assert lo < d["auc"] < hi
    assert d["lowest_fpr"] == lowest_fpr(225) == pytest.approx(1 / 225)
    assert estimable(0.001, 1000) and not estimable(0.001, 999)


def test_loss_threshold_does_not_tie_where_float32_rounds_p_to_one() -> None:
    """Members slightly more confident than non-members, all with p_y == 1.0 in float32."""
    n = 40
    others = np.r_[np.full(n, 1e-9), np.full(n, 1e-7)].astype(np.float32)
    probs = np.stack([np.ones(2 * n, np.float32), others], 1)
    assert (probs[:, 0] == 1.0).all()
    target = Target("t", "00" * 32, lambda x: probs[x[:, 0].astype(int)], 2, (1,))
    x = np.arange(2 * n, dtype=np.float64)[:, None]
    is_member = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    res = loss_threshold(target, x, np.zeros(2 * n, int), is_member)
    assert res.auc == 1.0


def test_references_differ_when_the_population_is_smaller_than_the_training_set(
        target: Target, data: Any) -> None:
    x, y = data
    seen: list[tuple[bytes, ...]] = []

    def trainer(xs: np.ndarray, ys: np.ndarray, seed: int) -> Any:
        seen.append(tuple(sorted(r.tobytes() for r in xs)))  # the rows with multiplicity
        return target.query

    is_member = np.r_[np.ones(20, bool), np.zeros(20, bool)]
    res = lira_offline(target, x[:40], y[:40], is_member, (x[600:660], y[600:660]), trainer,
                       3, 0, train_size=600)
    assert len(set(seen)) == 3  # before: the same 60 rows for every reference
    assert res.warnings and "smaller than twice the target's 600 training rows" in \
        res.warnings[0]
    assert res.to_dict()["warnings"] == list(res.warnings)


def test_references_replay_the_targets_full_batch_recipe(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    from cpmap.models.datasets import Dataset
    from cpmap.redteam import loader, shadow

    got: list[Any] = []
    monkeypatch.setattr(shadow, "mlp_trainer", lambda k, cfg: got.append(cfg) or (lambda *a: a))
    ds = Dataset("d", "0" * 64, np.zeros((4, 2)), np.arange(4) % 2, ("a", "b"))
    record = {"config": {"arch": "mlp", "hidden": [256], "epochs": 40, "lr": 0.01,
                         "weight_decay": 0.005, "batch": "full"}}
    assert loader.reference_trainer(record, ds) is not None
    assert got == [shadow.MLPConfig(hidden=256, epochs=40, lr=0.01, weight_decay=0.005)]


def test_the_campaign_gives_non_members_every_row_the_population_does_not_need() -> None:
    held = (np.zeros((1617, 2)), np.zeros(1617, int))
    members = (np.zeros((180, 2)), np.zeros(180, int))
    data = split_data(held, members)
    assert data.population is not None and data.nonmembers is not None
    assert len(data.population[1]) == 360 and len(data.nonmembers[1]) == 1257


def _item(p: RedteamCampaign) -> Item:
    return Item(7, "CP5", p.kind, "2026-01-01T00:00:00Z", {"d" * 64: "m@1"}, p)


def _campaign(nonmembers: int, tpr: float | None, upper: float | None,
              fpr1: float = 0.02, upper1: float = 0.04) -> RedteamCampaign:
    return RedteamCampaign(verdict=Verdict.INFO, membership_auc=0.55, membership_members=180,
                           membership_nonmembers=nonmembers, membership_tpr_at_0_1pct_fpr=tpr,
                           membership_tpr_at_0_1pct_fpr_upper=upper,
                           membership_tpr_at_1pct_fpr=fpr1,
                           membership_tpr_at_1pct_fpr_upper=upper1)


def test_the_gate_refuses_to_pass_on_too_few_non_members() -> None:
    reasons = requirement([_item(_campaign(225, None, None))], None, CP5Rule())  # type: ignore[arg-type]
    assert len(reasons) == 1 and not reasons[0].missing
    assert reasons[0].text.startswith("not enough non-members to test at this FPR")
    assert "needs at least 1000 non-members, the campaign had 225" in reasons[0].text


def test_the_gate_compares_the_upper_confidence_bound() -> None:
    low_but_uncertain = _campaign(1200, 0.0, 0.0203)
    rule = CP5Rule(max_membership_tpr_at_0_1pct_fpr=0.01)
    reasons = requirement([_item(low_but_uncertain)], None, rule)  # type: ignore[arg-type]
    assert len(reasons) == 1 and "is 0: its upper 95% confidence bound 0.0203" in reasons[0].text
    assert not requirement([_item(_campaign(1200, 0.0, 0.0203))], None, CP5Rule())  # type: ignore[arg-type]
    at1 = CP5Rule(membership_fpr=0.01)
    assert not requirement([_item(_campaign(225, None, None))], None, at1)  # type: ignore[arg-type]
    assert requirement([_item(_campaign(225, None, None, upper1=0.09))], None, at1)  # type: ignore[arg-type]


def test_a_membership_finding_stays_open_while_its_interval_reaches_the_threshold() -> None:
    """7/179 at 1% FPR (3.9%, CI 1.6%-7.9%) is below 5% as a point, not as a bound."""
    from cpmap.redteam import assess
    from cpmap.redteam.membership import MembershipResult, Roc
    from cpmap.redteam.plan import Plan

    def result(k: int) -> MembershipResult:
        fpr = np.array([0.0, 0.01, 1.0])
        return MembershipResult("lira-offline", Roc(fpr, np.array([0.0, k / 179, 1.0]), 0.6,
                                                    (0.55, 0.65)), 179, 1200, 8, 0)

    medium = assess.membership("m", "00" * 32, [result(7)], Plan())
    assert [f.severity.value for f in medium] == ["medium"]
    assert "cannot be ruled out" in medium[0].message and "7/179" in medium[0].message
    assert [f.severity.value for f in assess.membership("m", "00" * 32, [result(30)],
                                                        Plan())] == ["high"]
    assert not assess.membership("m", "00" * 32, [result(1)], Plan())
