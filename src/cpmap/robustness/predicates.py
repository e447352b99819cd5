"""CP4 evidence kinds: trained and stored models, robustness evaluations under attack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cpmap.core.predicate import Predicate, detail, family, metric

# AutoAttack's standard ensemble (Croce & Hein 2020): APGD-CE, APGD-T (DLR loss), FAB-T and
# Square. The gate's default worst case is over all four; the default evaluation adds the
# float64 margin attack, FGSM and PGD.
ENSEMBLE = ("apgd", "apgd-t", "fab-t", "square")


@dataclass(frozen=True, kw_only=True)
class _CP4(Predicate):
    control: ClassVar[str] = "CP4"


@dataclass(frozen=True, kw_only=True)
class StoredModelEvidence(_CP4):
    """What the model store adds to the evidence of every stored version."""

    model: str = detail("")
    version: int | None = detail()
    format: str = detail("")
    arch: str = detail("")
    #: SHA-256 of the stored training record (the ``models.record`` JSON): it says how the
    #: artifact is loaded (a user's own model's schema, reviewed skops types), so it is signed
    record_sha256: str = detail("")


@dataclass(frozen=True, kw_only=True)
class ModelRegistration(StoredModelEvidence):
    """A model brought into the store from outside (``cpmap models add``)."""

    kind: ClassVar[str] = "model-registration"


@dataclass(frozen=True, kw_only=True)
class ModelTraining(StoredModelEvidence):
    """A model trained by ``cpmap train``: its recipe and held-out figures."""

    kind: ClassVar[str] = "model-training"
    clean_accuracy: float | None = metric(unit="ratio")
    robust_accuracy: Mapping[str, float] = family("robust_accuracy@", unit="ratio")  # by eps
    train_seconds: float | None = metric(unit="seconds")
    seconds_per_epoch: float | None = metric(unit="seconds")
    train_rows: int | None = metric(unit="count")
    test_rows: int | None = metric(unit="count")
    dp_epsilon: float | None = metric()
    config: Mapping[str, Any] = detail(factory=dict)
    dp: Mapping[str, Any] | None = detail()
    #: the metrics above that a DP-SGD model's evidence computes on private rows without
    #: noise (clean and robust accuracy, row counts): outside the DP guarantee, so the report
    #: labels them and nothing released may carry them; empty for a non-DP model
    non_private: tuple[str, ...] = detail(factory=tuple)
    #: DP-SGD noise and sampling drawn from the recorded seed (--unsafe-reproducible-dp):
    #: anyone with the record can replay training, so the gate refuses the model
    unsafe_reproducible_dp: bool = detail(False)


@dataclass(frozen=True, kw_only=True)
class PickleTrust(_CP4):
    """A pickle-based model digest trusted for loading (it can run code: a warning)."""

    kind: ClassVar[str] = "model-pickle-trust"
    note: str = detail("")
    #: the latest signed CP3 model-scan verdict about the digest when it was trusted:
    #: "safe", "suspicious", "malicious" or "unscanned"
    scan_verdict: str = detail("unscanned")
    scan_entry: int | None = detail()  # the ledger index of that scan
    #: the truster passed --i-know-this-runs-code (required when the scan said malicious)
    runs_code_acknowledged: bool = detail(False)


@dataclass(frozen=True)
class AttackRow:
    """One attack at one eps: the accuracy that survived it."""

    attack: str
    eps: float
    robust_accuracy: float
    queries: int | None = None


@dataclass(frozen=True)
class AttackStrength:
    steps: int | None = None
    restarts: int | None = None
    apgd_steps: int | None = None
    square_iters: int | None = None
    seed: int | None = None
    apgd_targets: int | None = None
    fab_steps: int | None = None


@dataclass(frozen=True, kw_only=True)
class RobustnessEvaluation(_CP4):
    """Accuracy of a model (first subject) on a dataset (second) under each attack and eps."""

    kind: ClassVar[str] = "robustness-evaluation"
    clean_accuracy: float | None = metric(unit="ratio")
    samples: int | None = metric(unit="count")
    robust_accuracy: Mapping[str, float] = family("robust_accuracy@", unit="ratio")  # worst
    # per example: a row is robust at eps only if every L-inf attack at eps failed on it
    worst_case: Mapping[str, float] = family("worst_case@", unit="ratio")
    fgsm: Mapping[str, float] = family("fgsm@", unit="ratio")
    pgd: Mapping[str, float] = family("pgd@", unit="ratio")
    pgd_l2: Mapping[str, float] = family("pgd-l2@", unit="ratio")
    apgd: Mapping[str, float] = family("apgd@", unit="ratio")
    apgd_t: Mapping[str, float] = family("apgd-t@", unit="ratio")
    fab_t: Mapping[str, float] = family("fab-t@", unit="ratio")
    margin: Mapping[str, float] = family("margin@", unit="ratio")
    square: Mapping[str, float] = family("square@", unit="ratio")
    hsj: Mapping[str, float] = family("hsj@", unit="ratio")
    model: str = detail("")
    dataset: str = detail("")
    results: tuple[AttackRow, ...] = detail(factory=tuple)
    settings: AttackStrength | None = detail()

    def attacks_at(self, eps: float) -> set[str]:
        """The attacks that ran at exactly ``eps``."""
        return {r.attack for r in self.results if isinstance(r, AttackRow)
                and isinstance(r.eps, int | float) and abs(r.eps - eps) < 1e-9}

    def worst_at_least(self, eps: float, ensemble: Sequence[str]) -> list[tuple[float, float]]:
        """(eps, per-example worst case) at ``eps`` or stronger where all of ``ensemble`` ran."""
        out = []
        for key, value in self.worst_case.items():
            try:
                e = float(key)
            except ValueError:
                continue
            if e >= eps - 1e-12 and set(ensemble) <= self.attacks_at(e):
                out.append((e, float(value)))
        return sorted(out)

    def at_least(self, attack: str, eps: float) -> list[AttackRow]:
        """The results of ``attack`` at ``eps`` or stronger."""
        return [r for r in self.results if isinstance(r, AttackRow) and r.attack == attack
                and isinstance(r.eps, int | float) and r.eps >= eps - 1e-12]


@dataclass(frozen=True, kw_only=True)
class RobustnessComparison(_CP4):
    """Side by side robustness of several models (the demo's standard vs PGD-trained)."""

    kind: ClassVar[str] = "robustness-comparison"
    standard_clean: float | None = metric(key="standard.clean_accuracy", unit="ratio")
    standard_robust: float | None = metric(key="standard.robust_accuracy@0.1", unit="ratio")
    pgd_clean: float | None = metric(key="pgd.clean_accuracy", unit="ratio")
    pgd_robust: float | None = metric(key="pgd.robust_accuracy@0.1", unit="ratio")


@dataclass(frozen=True, kw_only=True)
class MaskingAcceptance(_CP4):
    """A person's recorded reason for accepting a gradient-masking finding on a model (its
    first subject): the gate's CP4 requirement stops failing on that rule at that eps."""

    kind: ClassVar[str] = "robustness-masking-acceptance"
    rule_id: str = detail("")
    eps: float | None = detail()
    evaluation: int | None = detail()  # the ledger entry that reported the finding
    reason: str = detail("")
    accepted_by: str = detail("")


KINDS = (ModelRegistration, ModelTraining, PickleTrust, RobustnessEvaluation,
         RobustnessComparison, MaskingAcceptance)
