"""CP1 provenance & integrity, as the control registry sees it."""

from __future__ import annotations

from dataclasses import dataclass

from cpmap.core.control import About, CliGroup, ControlPoint, Gate, Rule, Stage
from cpmap.core.tags import Atlas
from cpmap.provenance.predicates import KINDS


@dataclass(frozen=True, kw_only=True)
class CP1Rule(Rule):
    """Training data (and its recorded ancestors) registered, from trusted sources, intact, and
    signed: a verified supplier attestation or signature evidence on it or an ancestor."""

    required: bool = True
    signed: bool = True
    allow_untrusted_sources: bool = False


CONTROL = ControlPoint(
    "CP1", 1, "Provenance & integrity",
    "Fingerprints, signed manifests, trusted sources and suppliers, lineage.",
    Gate(CP1Rule, "cpmap.provenance.requirement:requirement", About.DATA,
         tags=(Atlas.T0020,)),
    commands=("cpmap data", "cpmap trust"),
    evidence=KINDS,
    tables=("cpmap.provenance.tables",),
    cli=(CliGroup("data", "cpmap.cli.data",
                  "CP1: fingerprint, sign, verify, register datasets; lineage."),
         CliGroup("trust", "cpmap.cli.trust", "Keys trusted to sign supplier attestations.")),
    stages=(Stage("Data provenance & integrity", "cpmap.lifecycle.stages.cp1:run"),),
    config=("sources",),
)
