"""The red-team rule catalog: what each finding means, how bad it is, what fixes it.

Every finding a campaign emits comes from one :class:`Rule` here, so the ATLAS technique ids,
OWASP ML Top 10 names and remediation text are written once and stay consistent between the
terminal, SARIF, the report and the findings tracker.
"""

from __future__ import annotations

from dataclasses import dataclass

from cpmap.core.findings import Severity
from cpmap.core.tags import Atlas, OwaspML, Tag

# OWASP Machine Learning Security Top 10 (2023), by name.
ML01 = OwaspML.ML01
ML03 = OwaspML.ML03
ML04 = OwaspML.ML04
ML05 = OwaspML.ML05
ML09 = OwaspML.ML09


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    attack: str  # the plan section that can reproduce (and so remediate) it
    atlas: tuple[Atlas, ...]
    owasp: tuple[OwaspML, ...]
    remediation: str

    @property
    def tags(self) -> tuple[Tag, ...]:
        return (*self.atlas, *self.owasp)


_GATEWAY = ("Serve the model only behind the CP7 inference gateway, whose strict schema "
            "validation rejects malformed batches before they reach the model.")

RULES: dict[str, Rule] = {r.id: r for r in (
    Rule("CP5-FUZZ-CRASH", "Malformed input crashes the model", Severity.HIGH, "fuzzing",
         (Atlas.T0029,), (ML01,),
         "Validate shape, dtype, finiteness and range before inference and answer a 4xx; "
         + _GATEWAY),
    Rule("CP5-FUZZ-HANG", "Input makes inference hang past the timeout", Severity.HIGH,
         "fuzzing", (Atlas.T0029,), (ML01,),
         "Bound batch size and input size, and enforce a per-request inference timeout and "
         "rate limits at the gateway."),
    Rule("CP5-FUZZ-NONFINITE", "Model returns non-finite or invalid probabilities",
         Severity.MEDIUM, "fuzzing", (Atlas.T0029, Atlas.T0043), (ML09, ML01),
         "Reject NaN/inf inputs and check outputs (finite, in [0, 1], rows summing to 1) "
         "before answering; " + _GATEWAY),
    Rule("CP5-FUZZ-UNVALIDATED", "Out-of-range or wrongly typed input accepted silently",
         Severity.LOW, "fuzzing", (Atlas.T0043,), (ML01,),
         "Declare the input domain (shape, dtype, value bounds) and reject what lies outside "
         "it instead of answering with a confident prediction; " + _GATEWAY),
    Rule("CP5-FUZZ-HTTP5XX", "Endpoint answers HTTP 5xx to malformed input", Severity.HIGH,
         "fuzzing", (Atlas.T0029,), (ML01,),
         "Validate requests and map every input error to a 4xx with a generic message."),
    Rule("CP5-FUZZ-TRACEBACK", "Endpoint leaks a traceback or internal error text",
         Severity.HIGH, "fuzzing", (Atlas.T0029,), (ML01,),
         "Never return exception text: log it server-side and answer a generic error body."),
    Rule("CP5-EVASION-WHITEBOX", "White-box adversarial examples evade the model",
         Severity.HIGH, "evasion", (Atlas.T0015, Atlas.T0043_000), (ML01,),
         "Adversarially train the model (`cpmap train --adversarial pgd|trades`, CP4) and "
         "re-run `cpmap robustness evaluate`; keep weights private (CP6) so attackers stay "
         "black-box."),
    Rule("CP5-EVASION-BLACKBOX", "Query-only adversarial examples evade the model",
         Severity.HIGH, "evasion", (Atlas.T0015, Atlas.T0043_001), (ML01,),
         "Adversarial training (CP4), plus per-client query budgets and rate limits at the CP7 "
         "gateway and CP8 monitoring of near-duplicate query bursts."),
    Rule("CP5-EXTRACTION", "Model can be stolen through its prediction API", Severity.HIGH,
         "extraction", (Atlas.T0024_002,), (ML05,),
         "Harden outputs at the gateway (label only or rounded top-k probabilities), enforce "
         "per-client query budgets and rate limits (CP7), and watch for query-distribution "
         "anomalies (CP8)."),
    Rule("CP5-MEMBERSHIP", "Training-set membership can be inferred", Severity.HIGH,
         "membership", (Atlas.T0024_000,), (ML04,),
         "Train with DP-SGD (`cpmap train --dp-epsilon`, CP4/CP2 budget) or at least regularize "
         "(weight decay, early stopping, augmentation); return labels or rounded probabilities "
         "only."),
    Rule("CP5-INVERSION", "Class representatives can be reconstructed from the model",
         Severity.MEDIUM, "inversion", (Atlas.T0024_001,), (ML03,),
         "Return labels or coarse probabilities only, limit queries per client, and train with "
         "DP-SGD where classes correspond to individuals."),
)}


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]
