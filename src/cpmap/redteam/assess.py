"""Turn attack results into findings: one per rule and model, with its reproduction.

A finding's ``properties`` carry what the shared schema has no field for: a stable ``id``
(model name + rule, so the same weakness keeps its id across versions and can be tracked to
remediation), ``title``, the affected model digest, the reproduction (attack, parameters,
seed), the measured metrics, and the ATLAS and OWASP entries split out of ``tags``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from cpmap.core.findings import Finding, Location, Severity
from cpmap.redteam.evasion import EvasionResult
from cpmap.redteam.extraction import ExtractionResult
from cpmap.redteam.fuzzing import FuzzReport, failures_by_rule
from cpmap.redteam.inversion import InversionResult
from cpmap.redteam.membership import MembershipResult
from cpmap.redteam.plan import Plan
from cpmap.redteam.rules import rule


def finding_id(model: str, rule_id: str) -> str:
    return "RT-" + hashlib.sha256(f"{model}\0{rule_id}".encode()).hexdigest()[:10]


def make(model: str, digest: str, rule_id: str, message: str, params: Mapping[str, Any],
         seed: int, metrics: Mapping[str, Any], severity: Severity | None = None) -> Finding:
    r = rule(rule_id)
    return Finding(
        rule_id=rule_id, severity=severity or r.severity, message=message,
        location=Location(path=f"model:{model}", field=r.attack), remediation=r.remediation,
        tags=r.tags,
        properties={"id": finding_id(model, rule_id), "title": r.title, "model": model,
                    "model_digest": digest,
                    "reproduction": {"attack": r.attack, "params": dict(params), "seed": seed},
                    "metrics": dict(metrics), "atlas": list(r.atlas), "owasp": list(r.owasp)})


def fuzzing(model: str, digest: str, report: FuzzReport, plan: Plan) -> list[Finding]:
    out = []
    for rule_id, probes in failures_by_rule(report).items():
        names = ", ".join(p.probe for p in probes)
        first = probes[0]
        message = (f"{len(probes)} fuzzing probe(s) ({names}): {first.outcome.detail}; minimal "
                   f"input: {first.example}")
        metrics = {p.probe: {"outcome": p.outcome.kind, "detail": p.outcome.detail,
                             "example": p.example} for p in probes}
        params = {"probes": [p.probe for p in probes], "examples": report.examples,
                  "timeout_s": report.timeout_s}
        out.append(make(model, digest, rule_id, message, params, report.seed, metrics))
    return out


def evasion(model: str, digest: str, res: EvasionResult, plan: Plan) -> list[Finding]:
    cfg = plan.evasion
    out = []
    for kind, rule_id in (("white-box", "CP5-EVASION-WHITEBOX"),
                          ("black-box", "CP5-EVASION-BLACKBOX")):
        best = res.best(kind)
        if best is None or best.success_rate < cfg.success_threshold:
            continue
        cost = f" using {best.queries / best.samples:.0f} queries per sample" \
            if best.queries is not None and best.samples else ""
        message = (f"{best.attack} changes {best.success_rate:.0%} of {best.samples} correct "
                   f"predictions within L-inf eps {cfg.eps} (mean perturbation "
                   f"{best.mean_linf:.3f}){cost}")
        params = {"attack": best.attack, "eps": cfg.eps, "samples": cfg.samples,
                  "steps": cfg.steps, "square_iters": cfg.square_iters,
                  "hsj_iterations": cfg.hsj_iterations}
        out.append(make(model, digest, rule_id, message, params, plan.seed, best.to_dict()))
    return out


def extraction(model: str, digest: str, res: ExtractionResult, plan: Plan) -> list[Finding]:
    cfg = plan.extraction
    best = res.best("probabilities") or res.best(cfg.outputs[0])
    if best is None or best.fidelity < cfg.fidelity_threshold:
        return []
    first = res.first_reaching(best.output, cfg.fidelity_threshold)
    hardened = [p for p in (res.best("label"), res.best("rounded")) if p and p is not best]
    tail = "; ".join(f"{p.output} output: {p.fidelity:.1%}" for p in hardened)
    message = (f"a surrogate trained on {first.budget if first else best.budget} query answers "
               f"({best.output}) agrees with the model on "
               f"{(first or best).fidelity:.1%} of held-out inputs"
               + (f" (hardened at {best.budget} queries: {tail})" if tail else ""))
    params = {"budgets": list(cfg.budgets), "outputs": list(cfg.outputs),
              "decimals": cfg.decimals}
    return [make(model, digest, "CP5-EXTRACTION", message, params, plan.seed, res.to_dict())]


def membership(model: str, digest: str, results: list[MembershipResult],
               plan: Plan) -> list[Finding]:
    """A finding while the data cannot rule out TPR at 1% FPR >= the threshold (the upper 95%
    bound reaches it): HIGH when even the lower bound does (the leak is established), MEDIUM
    otherwise. So a later version is "remediated" only once its interval says so, not when a
    point estimate on a few hundred records happens to dip below the line."""
    from cpmap.redteam.membership import summary_text

    cfg = plan.membership
    rated = [(r, a) for r in results if (a := r.rate(0.01)) is not None]
    if not rated:
        return []
    best, at1 = max(rated, key=lambda t: (t[1].hi, t[1].value))
    if at1.hi < cfg.tpr_threshold:
        return []
    established = at1.lo >= cfg.tpr_threshold
    how = "identifies training records" if established else \
        f"cannot be ruled out at TPR {cfg.tpr_threshold:.0%} (1% FPR)"
    message = f"{best.attack} {how}: {summary_text(best.to_dict())} (chance: TPR equals FPR)"
    params = {"attacks": list(cfg.attacks), "reference_models": cfg.reference_models,
              "max_records": cfg.max_records}
    return [make(model, digest, "CP5-MEMBERSHIP", message, params, plan.seed, best.to_dict(),
                 None if established else Severity.MEDIUM)]


def inversion(model: str, digest: str, res: InversionResult, plan: Plan) -> list[Finding]:
    cfg = plan.inversion
    # With two classes the centred class means point in opposite directions, so any
    # reconstruction leaning the right way "identifies" its class: no evidence of a leak.
    if len(res.similarity) < 3 or res.identification_rate < cfg.identification_threshold:
        return []
    message = (f"gradient inversion ({res.method}) reconstructs a recognisable representative "
               f"for {res.identification_rate:.0%} of classes (mean cosine to class mean "
               f"{res.similarity.mean():.2f} vs {res.best_other.mean():.2f} to other classes)")
    params = {"steps": cfg.steps, "method": res.method}
    return [make(model, digest, "CP5-INVERSION", message, params, plan.seed, res.to_dict())]
