"""The Control Points Map: ten controls in five phases, and which of them cpmap implements.

This is the one registry the report, the README table and ``cpmap demo`` read. A control point
becomes ``implemented`` when its package records evidence and its demo stage runs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Control:
    id: str
    phase: int
    phase_name: str
    title: str
    summary: str
    implemented: bool
    commands: tuple[str, ...] = ()


PHASES = {1: "Data", 2: "Build", 3: "Validate", 4: "Serve", 5: "Operate"}

CONTROLS: tuple[Control, ...] = (
    Control("CP1", 1, "Data", "Provenance & integrity",
            "Fingerprints, signed manifests, trusted sources and suppliers, lineage.", True,
            ("cpmap data", "cpmap trust")),
    Control("CP2", 1, "Data", "Privacy & anonymization",
            "PII scan and redaction, k-anonymity, differential privacy, synthetic data.", True,
            ("cpmap privacy",)),
    Control("CP3", 2, "Build", "Secure environment & supply chain",
            "Dependency vulnerabilities, SBOM, secrets, model-file scanning, images, access.",
            True, ("cpmap scan", "cpmap sbom", "cpmap access")),
    Control("CP4", 2, "Build", "Adversarial robustness training",
            "FGSM/PGD/APGD attacks, adversarial training, robustness curves.", True,
            ("cpmap train", "cpmap robustness", "cpmap models")),
    Control("CP5", 3, "Validate", "AI penetration testing",
            "Red-team campaigns: fuzzing, evasion, extraction, membership, inversion.", True,
            ("cpmap redteam run", "cpmap redteam findings", "cpmap redteam accept")),
    Control("CP6", 3, "Validate", "Model governance & versioning",
            "Signed registry, model cards, the gate, promotion and rollback.", True,
            ("cpmap registry", "cpmap gate", "cpmap report NAME@VERSION")),
    Control("CP7", 4, "Serve", "Secure API endpoint & input validation",
            "Inference gateway: authn/authz, rate limits, strict input validation.", False),
    Control("CP8", 4, "Serve", "Real-time input/output monitoring",
            "Input baselines, out-of-distribution alerts, confidence logs.", False),
    Control("CP9", 5, "Operate", "Drift & performance monitoring",
            "Drift tests, metric tracking, golden-set re-validation.", False),
    Control("CP10", 5, "Operate", "Secure retraining & feedback loop",
            "Triggered retraining, data re-checks, human review, re-gated promotion.", False),
)


def control(cp: str) -> Control:
    for c in CONTROLS:
        if c.id == cp:
            return c
    raise KeyError(cp)
