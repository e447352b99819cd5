"""CP3 secure environment & supply chain, as the control registry sees it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cpmap.core.control import About, CliCommand, CliGroup, ControlPoint, Gate, Rule, Stage
from cpmap.core.findings import SeverityFloor
from cpmap.core.tags import Atlas
from cpmap.supplychain.predicates import KINDS


class ModelFiles(StrEnum):
    SAFE = "safe"  # the latest model-file scan must call every file safe
    ANY = "any"  # the scan's verdict does not gate
    OFF = ""  # same as "any" (older cpmap.toml files)


@dataclass(frozen=True, kw_only=True)
class CP3Rule(Rule):
    """No finding at or above fail_severity (dependencies), no secrets, model files safe."""

    required: bool = True
    fail_severity: SeverityFloor = SeverityFloor.CRITICAL
    max_secrets: int = 0
    model_files: ModelFiles = ModelFiles.SAFE


CONTROL = ControlPoint(
    "CP3", 2, "Secure environment & supply chain",
    "Dependency vulnerabilities, SBOM, secrets, model-file scanning, images, access.",
    Gate(CP3Rule, "cpmap.supplychain.requirement:requirement", About.BUILD,
         tags=(Atlas.T0010,)),
    commands=("cpmap scan", "cpmap sbom", "cpmap access", "cpmap osv"),
    evidence=KINDS,
    cli=(CliGroup("scan", "cpmap.cli.scan",
                  "CP3: scan dependencies, secrets, model files and images."),
         CliGroup("access", "cpmap.cli.access",
                  "CP3: least-privilege data access: check and review."),
         CliCommand("sbom", "cpmap.cli.sbom", "sbom"),
         CliGroup("osv", "cpmap.cli.osv", "CP3: download OSV's public advisory export.")),
    stages=(Stage("Supply chain: dependencies, SBOM, images, access",
                  "cpmap.lifecycle.stages.cp3_deps:run"),
            Stage("Supply chain: secrets and model files", "cpmap.lifecycle.stages.cp3_scan:run")),
    config=("secrets", "images", "access", "supplychain"),
)
