"""CP2 evidence kinds: PII scans and redactions, anonymity, DP spends, synthetic data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cpmap.core.predicate import Predicate, detail, metric


@dataclass(frozen=True, kw_only=True)
class CP2Evidence(Predicate):
    control: ClassVar[str] = "CP2"
    findings_truncated: int | None = detail()  # findings beyond the stored cap, counted


@dataclass(frozen=True, kw_only=True)
class PiiScan(CP2Evidence):
    """PII found in files or tables (values never stored, only entity types and counts)."""

    kind: ClassVar[str] = "pii-scan"
    files: int = metric(0, unit="count")
    files_with_pii: int = metric(0, unit="count")
    pii_columns: int = metric(0, unit="count")
    text_hits: int = metric(0, unit="count")
    direct_identifiers: bool = metric(False)
    backend: str = detail("")
    entities: Mapping[str, int] = detail(factory=dict)
    scanned: tuple[Mapping[str, Any], ...] = detail(factory=tuple, key="files")

    @property
    def pii_count(self) -> int:
        """PII columns plus free-text hits: what ``max_pii_findings`` bounds."""
        return self.pii_columns + self.text_hits


@dataclass(frozen=True, kw_only=True)
class PiiRedaction(CP2Evidence):
    """A redacted copy (first subject) of a dataset (second), and its re-scan."""

    kind: ClassVar[str] = "pii-redaction"
    values_redacted: int = metric(0, unit="count")
    columns_redacted: int = metric(0, unit="count")
    residual_values: int = metric(0, unit="count")
    rescan_direct_identifiers: int = metric(0, unit="count")
    input: str = detail("")
    output: str = detail("")
    redacted: Mapping[str, int] = detail(factory=dict)
    columns: Mapping[str, str] = detail(factory=dict)
    rescan_entities: Mapping[str, int] = detail(factory=dict)


@dataclass(frozen=True, kw_only=True)
class PiiDecryption(CP2Evidence):
    """Values encrypted by redaction decrypted again with the workspace key."""

    kind: ClassVar[str] = "pii-decryption"
    values_decrypted: int = metric(0, unit="count")
    input: str = detail("")
    output: str = detail("")


@dataclass(frozen=True, kw_only=True)
class AnonymityAssessment(CP2Evidence):
    """k-anonymity, l-diversity, t-closeness and re-identification risk of a table."""

    kind: ClassVar[str] = "anonymity-assessment"
    rows: int = metric(0, unit="count")
    classes: int = metric(0, unit="count")
    k: int | None = metric(unit="count")
    uniqueness: float | None = metric(unit="ratio")
    prosecutor_risk_max: float | None = metric(unit="ratio")
    prosecutor_risk_avg: float | None = metric(unit="ratio")
    records_at_risk: float | None = metric(unit="ratio")
    l_distinct: int | None = metric(unit="count")
    l_entropy: float | None = metric()
    t_closeness: float | None = metric()
    sensitive_column: str | None = metric(key="sensitive")  # a name, kept where it always was
    required_k: int | None = metric(unit="count")
    information_loss_ncp: float | None = metric(unit="ratio")  # after Mondrian
    suppressed: int | None = metric(unit="count")
    partitions: int | None = metric(unit="count")
    quasi: tuple[str, ...] = detail(factory=tuple)
    sensitive: str | None = detail()


@dataclass(frozen=True, kw_only=True)
class PrivacySpend(CP2Evidence):
    """A differentially private release charged to its dataset's budget."""

    kind: ClassVar[str] = "privacy-spend"
    epsilon: float = metric(0.0)
    delta: float = metric(0.0)
    spent_epsilon: float = metric(0.0)
    spent_delta: float = metric(0.0)
    budget_epsilon: float = metric(0.0)
    budget_delta: float = metric(0.0)
    remaining_epsilon: float = metric(0.0)
    purpose: str = detail("")
    dataset: str = detail("")  # the population charged: the CP1 name of a lineage root
    source: str | None = detail()  # the dataset the release was computed from
    population: tuple[str, ...] = detail(factory=tuple)  # every root charged by this release
    new_population: bool | None = detail()  # registered by this release as a new population
    query: str | None = detail()
    mechanism: str | None = detail()
    library: str | None = detail()
    released: Any = detail()
    model: str | None = detail()
    noise_multiplier: float | None = detail()
    max_grad_norm: float | None = detail()
    randomness: str | None = detail()  # DP-SGD: where noise and sampling came from
    unsafe_reproducible_dp: bool | None = detail()  # DP-SGD replayable from the seed: unsafe
    columns: tuple[str, ...] | None = detail()  # a synthetic release: the columns modelled


@dataclass(frozen=True, kw_only=True)
class SyntheticData(CP2Evidence):
    """A synthetic copy (first subject) made from a dataset (second)."""

    kind: ClassVar[str] = "synthetic-data"
    rows: int = metric(0, unit="count")
    column_count: int = metric(0, key="columns", unit="count")
    dropped_count: int = metric(0, key="dropped", unit="count")
    epsilon: float = metric(-1.0)  # -1: not differentially private
    dp: bool = metric(False)
    columns: tuple[str, ...] = detail(factory=tuple)
    dropped: tuple[str, ...] = detail(factory=tuple)
    seed: int | None = detail()


@dataclass(frozen=True, kw_only=True)
class SyntheticEvaluation(CP2Evidence):
    """Fidelity, utility and privacy scores of a synthetic table against the real one."""

    kind: ClassVar[str] = "synthetic-evaluation"
    mean_column_distance: float | None = metric()
    correlation_difference: float | None = metric()
    tstr_accuracy: float | None = metric(unit="ratio")
    trtr_accuracy: float | None = metric(unit="ratio")
    exact_copy_rate: float | None = metric(unit="ratio")
    dcr_synthetic_median: float | None = metric()
    dcr_holdout_median: float | None = metric()
    dcr_ratio: float | None = metric()
    closer_than_holdout_p5: float | None = metric(unit="ratio")
    column_distance: Mapping[str, float] = detail(factory=dict)
    target: str | None = detail()
    # every score above is computed on the real rows without noise: not differentially
    # private, for the operator's judgement only, never part of a release
    non_private: tuple[str, ...] = detail(factory=tuple)


KINDS = (PiiScan, PiiRedaction, PiiDecryption, AnonymityAssessment, PrivacySpend, SyntheticData,
         SyntheticEvaluation)
