"""Signed CP9 evidence: a drift result recorded about the model version and the data sides.

Findings carry MITRE ATLAS AML.T0031 (erode model integrity) for drift and performance drops,
AML.T0020 (poison training data) for slow poisoning; OWASP ML08 (model skewing) and ML02.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cpmap.core.evidence import Evidence, Subject, record
from cpmap.core.findings import Finding, Location, Severity, Verdict
from cpmap.core.tags import Atlas, OwaspML
from cpmap.drift.predicates import DriftReport

if TYPE_CHECKING:
    from cpmap.core.ledger import Entry
    from cpmap.core.predicate import Plot
    from cpmap.core.workspace import Workspace
    from cpmap.drift.engine import DriftResult

DRIFT_TAGS = (Atlas.T0031, OwaspML.ML08)
POISON_TAGS = (Atlas.T0020, Atlas.T0031, OwaspML.ML02)


def drift_findings(result: DriftResult) -> list[Finding]:
    out = [Finding("CP9-DRIFT", Severity.MEDIUM,
                   f"{f.name}: {f.test} p={f.p_adjusted:.3g} (adjusted), {f.effect_name} "
                   f"{f.effect:.3g}", Location(str(result.current.get("name", "")),
                                               field=f.name),
                   "Check the upstream data; retrain on recent data if the shift is real.",
                   DRIFT_TAGS)
           for f in result.drifted if f.p_adjusted is not None and f.effect is not None]
    mv = result.multivariate
    if mv.drift:
        out.append(Finding("CP9-DRIFT-JOINT", Severity.MEDIUM,
                           f"joint distribution changed: domain classifier AUC {mv.auc}, "
                           f"p={mv.p_value} (top: {', '.join(mv.top_features) or '-'})",
                           Location(str(result.current.get("name", ""))),
                           "A change of correlation between features: look at the top "
                           "features together.", DRIFT_TAGS))
    return out


def drift_predicate(result: DriftResult, plots: Sequence[Plot] = (),
                    source: str = "batch") -> DriftReport:
    mv = result.multivariate
    n_drift = len(result.drifted)
    highlights = [f"{n_drift}/{len(result.features)} feature test(s) drifted "
                  f"({result.policy.correction.upper()} at {result.policy.alpha})"]
    highlights += [f"{f.name}: {f.effect_name} {f.effect:.3g}" for f in result.drifted[:5]
                   if f.effect is not None]
    if mv.auc is not None:
        highlights.append(f"domain classifier AUC {mv.auc} (p={mv.p_value})")
    if result.no_verdict:
        highlights.append(f"{len(result.no_verdict)} test(s) without a verdict (too few rows)")
    return DriftReport(
        verdict=Verdict.FAIL if result.drift else Verdict.PASS,
        findings=tuple(drift_findings(result)), highlights=tuple(highlights),
        plots=tuple(plots), features=len(result.features), drifted=n_drift,
        no_verdict=len(result.no_verdict),
        reference_rows=int(result.reference.get("rows", 0)),
        current_rows=int(result.current.get("rows", 0)), multivariate_p=mv.p_value,
        multivariate_auc=mv.auc, alpha=result.policy.alpha,
        reference=str(result.reference.get("name", "")),
        current=str(result.current.get("name", "")), engine=result.engine, source=source,
        results=tuple(f.to_dict() for f in result.features[:200]),
        multivariate=mv.to_dict())


def subjects(model: Any | None, *sides: dict[str, Any]) -> list[Subject]:
    """The model version (when known) and every side that has a digest."""
    out = [Subject(model.ref, model.digest)] if model is not None else []
    out += [Subject(str(s["name"])[:200], str(s["digest"])) for s in sides if s.get("digest")]
    return out


def record_drift(ws: Workspace, result: DriftResult, model: Any | None,
                 plots: Sequence[Plot] = (), source: str = "batch") -> Entry | None:
    """Record the drift evidence; None when there is nothing to name it about."""
    subj = subjects(model, result.reference, result.current)
    if not subj:
        return None
    return record(Evidence.of(drift_predicate(result, plots, source), subj), ws)
