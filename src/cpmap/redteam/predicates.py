"""CP5 evidence kinds: red-team campaigns and recorded risk acceptances."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cpmap.core.predicate import Predicate, detail, metric


@dataclass(frozen=True, kw_only=True)
class _CP5(Predicate):
    control: ClassVar[str] = "CP5"


@dataclass(frozen=True, kw_only=True)
class RedteamCampaign(_CP5):
    """One campaign on a model: what each attack section measured, and its tracked findings."""

    kind: ClassVar[str] = "redteam-campaign"
    finding_count: int = metric(0, key="findings", unit="count")
    failing_probes: int | None = metric(key="fuzzing.failing_probes", unit="count")
    white_box_success_rate: float | None = metric(key="evasion.white_box_success_rate",
                                                  unit="ratio")
    black_box_success_rate: float | None = metric(key="evasion.black_box_success_rate",
                                                  unit="ratio")
    fidelity_probabilities: float | None = metric(key="extraction.fidelity_probabilities",
                                                  unit="ratio")
    fidelity_label: float | None = metric(key="extraction.fidelity_label", unit="ratio")
    membership_auc: float | None = metric(key="membership.auc")
    membership_tpr_at_0_1pct_fpr: float | None = metric(key="membership.tpr_at_0.1pct_fpr",
                                                        unit="ratio")
    membership_tpr_at_1pct_fpr: float | None = metric(key="membership.tpr_at_1pct_fpr",
                                                      unit="ratio")
    # None above means "not estimable" with this many non-members (see membership.nonmembers)
    membership_tpr_at_0_1pct_fpr_upper: float | None = metric(
        key="membership.tpr_at_0.1pct_fpr_upper", unit="ratio")  # 95% Clopper-Pearson bound
    membership_tpr_at_1pct_fpr_upper: float | None = metric(
        key="membership.tpr_at_1pct_fpr_upper", unit="ratio")
    membership_auc_lower: float | None = metric(key="membership.auc_lower")  # bootstrap 95%
    membership_auc_upper: float | None = metric(key="membership.auc_upper")
    membership_members: int | None = metric(key="membership.members", unit="count")
    membership_nonmembers: int | None = metric(key="membership.nonmembers", unit="count")
    membership_lowest_fpr: float | None = metric(key="membership.lowest_fpr", unit="ratio")
    fidelity_probabilities_lower: float | None = metric(
        key="extraction.fidelity_probabilities_lower", unit="ratio")
    fidelity_probabilities_upper: float | None = metric(
        key="extraction.fidelity_probabilities_upper", unit="ratio")
    fidelity_data_free: float | None = metric(key="extraction.fidelity_data_free", unit="ratio")
    extraction_eval_rows: int | None = metric(key="extraction.eval_rows", unit="count")
    identification_rate: float | None = metric(key="inversion.identification_rate",
                                               unit="ratio")
    campaign: str = detail("")
    model: str = detail("")
    plan: Mapping[str, Any] = detail(factory=dict)
    seed: int | None = detail()
    seeds: Mapping[str, int] = detail(factory=dict)
    results: Mapping[str, Any] = detail(factory=dict)  # per section, as the section reports it
    seconds: Mapping[str, float] = detail(factory=dict)
    status: Mapping[str, str] = detail(factory=dict)  # finding id -> open|remediated|accepted
    transitions: tuple[Mapping[str, Any], ...] = detail(factory=tuple)
    endpoint: str | None = detail()
    dataset: str | None = detail()
    dataset_digest: str | None = detail()
    data_roles: Any = detail()  # which rows the attacker and the evaluation used


@dataclass(frozen=True, kw_only=True)
class RedteamAcceptance(_CP5):
    """A finding's risk accepted by a person, with the reason: it stops blocking the gate."""

    kind: ClassVar[str] = "redteam-acceptance"
    finding: str = detail("")
    rule_id: str = detail("")
    title: str = detail("")
    previous_status: str = detail("")
    reason: str = detail("")
    accepted_by: str = detail("")


@dataclass(frozen=True, kw_only=True)
class RedteamSummary(_CP5):
    """Membership leakage of two versions of a model side by side (an overfit one, a fixed one)."""

    kind: ClassVar[str] = "redteam-summary"
    overfit_tpr_at_0_1pct_fpr: float | None = metric(key="overfit.tpr_at_0.1pct_fpr")
    overfit_tpr_at_1pct_fpr: float | None = metric(key="overfit.tpr_at_1pct_fpr")
    overfit_auc: float | None = metric(key="overfit.auc")
    regularized_tpr_at_0_1pct_fpr: float | None = metric(key="regularized.tpr_at_0.1pct_fpr")
    regularized_tpr_at_1pct_fpr: float | None = metric(key="regularized.tpr_at_1pct_fpr")
    regularized_auc: float | None = metric(key="regularized.auc")
    overfit_tpr_at_1pct_fpr_ci: tuple[float, float] | None = detail(
        key="overfit.tpr_at_1pct_fpr_ci95")
    regularized_tpr_at_1pct_fpr_ci: tuple[float, float] | None = detail(
        key="regularized.tpr_at_1pct_fpr_ci95")
    remediation: str = detail("")  # what the fixed version changed
    remediated: bool | None = detail()  # the AUC intervals do not overlap
    # a third version trained with DP-SGD (the remediation with a guarantee)
    dp_tpr_at_1pct_fpr: float | None = metric(key="dp.tpr_at_1pct_fpr")
    dp_auc: float | None = metric(key="dp.auc")
    dp_tpr_at_1pct_fpr_ci: tuple[float, float] | None = detail(key="dp.tpr_at_1pct_fpr_ci95")
    dp_auc_ci: tuple[float, float] | None = detail(key="dp.auc_ci95")
    dp_remediation: str = detail("")
    dp_remediated: bool | None = detail()  # the AUC intervals of v1 and the DP version apart


KINDS = (RedteamCampaign, RedteamAcceptance, RedteamSummary)
