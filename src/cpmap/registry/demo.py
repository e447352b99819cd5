"""CP6 demo stage: register the digits models, card them, gate, promote, roll back, report.

The CP4 stage leaves ``digits_standard`` and ``digits_pgd`` (model-store versions) in
``ctx.artifacts``. Each registration scans the files (CP3); a model lacking a robustness
evaluation at the gate's eps (CP4) or a red-team campaign (CP5) gets a small seeded one here, so
the gate decides on evidence about these exact digests. Residual CP5 evasion findings on a
model that meets the CP4 robustness requirement are accepted with a recorded reason (the CP5
risk-acceptance workflow). The PGD model passes and goes to production; the standard one is
refused on CP4. A repackaged PGD model (same weights, serving
metadata: a new artifact, so it earns its own evidence) is promoted next, then production is
rolled back to the first approved version in one call.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.lifecycle import DemoContext, StageResult

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.gate.evaluate import GateResult
    from cpmap.registry.manifest import ModelVersion

NAME = "digits"
CARD = {
    "description": "Multilayer perceptron classifying 8x8 handwritten digits (scikit-learn "
                   "digits), trained by the cpmap demo.",
    "intended_use": "Demonstrating cpmap's controls; classifying clean 8x8 grayscale digit "
                    "images scaled to [0, 1].",
    "out_of_scope_use": "Any real decision; images of another size, scale or domain.",
    "limitations": ["Trained on 1,347 images: accuracy on other handwriting is unknown.",
                    "Robustness is measured only against L-inf attacks at the gate's eps."],
    "ethical_considerations": "No personal data: the digits carry no information about "
                              "their writers.",
    "license": "BSD-3-Clause",
    "owners": ["cpmap demo"],
}


def _ref(value: Any) -> str:
    ref = getattr(value, "ref", value)
    return str(ref)


def _has(ws: Workspace, mv: ModelVersion, control: str, kind: str,
         pred: Any = None) -> bool:
    from cpmap.core.ledger import Ledger

    return any(e.predicate.get("control") == control and (pred is None or pred(e))
               for e in Ledger(ws).entries(digest=mv.digest, kind=kind))


def _ensure_cp4(ws: Workspace, store_ref: str, mv: ModelVersion, data: str) -> str | None:
    """Evaluate at the gate's (attack, eps) unless that evaluation already exists."""
    from cpmap.gate.evidence import item_of
    from cpmap.gate.policy import load as load_policy
    from cpmap.robustness.control import CP4Rule
    from cpmap.robustness.predicates import RobustnessEvaluation

    rule = load_policy(ws).rule("CP4")
    assert isinstance(rule, CP4Rule)  # noqa: S101 - the registry declares CP4's rule type
    attack, eps = rule.attack, rule.eps

    def at_eps(e: Any) -> bool:
        p = item_of(e).predicate
        return isinstance(p, RobustnessEvaluation) and any(
            r.attack == attack and abs(r.eps - eps) < 1e-9 for r in p.results)

    if _has(ws, mv, "CP4", "robustness-evaluation", at_eps):
        return None
    from cpmap.robustness.service import evaluate_model

    ev = evaluate_model(ws, store_ref, data, [eps], [attack], samples=300, seed=0).evaluation
    return (f"{mv.ref}: {attack} at eps {eps:g}: robust accuracy "
            f"{ev.robust_at(eps) or 0:.3f} (clean {ev.clean_accuracy:.3f})")


def _ensure_cp5(ws: Workspace, store_ref: str, mv: ModelVersion, data: str) -> str | None:
    """A small seeded campaign (fuzzing and membership inference) unless one measured
    membership inference on this model already."""
    from cpmap.gate.evidence import item_of
    from cpmap.redteam.predicates import RedteamCampaign

    def measured(e: Any) -> bool:
        p = item_of(e).predicate
        return isinstance(p, RedteamCampaign) and p.membership_tpr_at_0_1pct_fpr is not None

    if _has(ws, mv, "CP5", "redteam-campaign", measured):
        return None
    from cpmap.redteam.plan import from_dict
    from cpmap.redteam.service import run_campaign

    plan = from_dict({"evasion": {"enabled": False}, "extraction": {"enabled": False},
                      "inversion": {"enabled": False}, "membership": {"reference_models": 2}},
                     "registry demo plan")
    result = run_campaign(ws, store_ref, data, plan=plan)
    tpr = result.metrics.get("membership", {}).get("tpr_at_0.1pct_fpr")
    return f"{mv.ref}: red-team campaign, membership TPR at 0.1% FPR {tpr}"


def _accept_residual_evasion(ws: Workspace, mv: ModelVersion, result: GateResult) -> list[str]:
    """Risk acceptance, recorded: when the PGD model meets the CP4 robustness requirement, its
    residual CP5 evasion findings at the campaign's eps are accepted with that reason."""
    from cpmap.redteam.tracking import accept, list_findings

    if result.control("CP4").status != "pass":
        return []
    out = []
    for t in list_findings(ws, only_open=True):
        if t.last_digest == mv.digest and t.rule_id.startswith("CP5-EVASION"):
            accept(ws, t.id, f"residual evasion accepted for {mv.ref}: the CP4 gate requirement "
                   "(robust accuracy under PGD at the policy eps) is met", by="demo model owner")
            out.append(f"accepted {t.id} ({t.rule_id}) on {mv.ref} with a recorded reason")
    return out


def _dataset_of(ws: Workspace, store_ref: str) -> str:
    from cpmap.models.store import get_model

    rec = get_model(ws, store_ref).record
    for d in rec.get("datasets") or []:
        if isinstance(d, dict) and d.get("ref"):
            return str(d["ref"])
    return "builtin:digits"


def _register(ctx: DemoContext, store_ref: str, lines: list[str]) -> ModelVersion:
    from cpmap.registry.card import build_card, record_card
    from cpmap.registry.card_render import html, markdown
    from cpmap.registry.intake import register_any

    ws = ctx.ws
    mv = register_any(ws, NAME, store_ref, card=CARD, scan=True).version
    data = _dataset_of(ws, store_ref)
    lines += [m for m in (_ensure_cp4(ws, store_ref, mv, data),
                          _ensure_cp5(ws, store_ref, mv, data)) if m]
    from cpmap.gate.evaluate import evaluate

    lines += _accept_residual_evasion(ws, mv, evaluate(ws, mv))
    card = build_card(ws, mv)
    record_card(ws, mv, card, ["intended_use", "limitations"])
    cards = ctx.workdir / "cards"
    cards.mkdir(parents=True, exist_ok=True)
    (cards / f"{NAME}-{mv.version}.md").write_text(markdown(card))
    (cards / f"{NAME}-{mv.version}.html").write_text(html(card))
    lines.append(f"registered {mv.ref} <- {store_ref} sha256:{mv.digest[:12]}, card written")
    return mv


def _verdict(result: GateResult, short: bool = False) -> str:
    if result.passed:
        return "gate passed"
    if short:
        return "gate failed: " + ", ".join(f"{c.control} {c.status}" for c in result.failing())
    return "gate failed: " + "; ".join(f"{c.control} {c.status} ({c.reasons[0]})"
                                       for c in result.failing())


def _repackage(ws: Workspace, store_ref: str) -> str:
    """The PGD network re-saved with serving metadata: same weights, a new artifact."""
    from cpmap.models.store import get_model, load_version, save_model

    src = get_model(ws, store_ref)
    model = load_version(ws, src)
    meta = getattr(model, "meta", None)
    if isinstance(meta, dict):
        meta["packaging"] = {"purpose": "serving", "from": src.ref}
    return save_model(ws, src.name, model, {k: v for k, v in src.record.items()
                                            if k not in {"meta", "libraries"}}).ref


def run(ctx: DemoContext) -> StageResult:
    from cpmap.errors import Error
    from cpmap.gate.evaluate import evaluate
    from cpmap.registry.stages import GateFailed, promote, rollback

    std = ctx.artifacts.get("digits_standard_ref") or ctx.artifacts.get("digits_standard")
    pgd = ctx.artifacts.get("digits_pgd_ref") or ctx.artifacts.get("digits_pgd")
    if std is None or pgd is None:
        return StageResult("CP6", False, ("the CP4 stage left no digits models to register",))
    ws = ctx.ws
    lines: list[str] = []
    robust = _register(ctx, _ref(pgd), lines)
    standard = _register(ctx, _ref(std), lines)
    r_robust, r_standard = evaluate(ws, robust), evaluate(ws, standard)
    lines += [f"{robust.ref} (PGD-trained): {_verdict(r_robust)}",
              f"{standard.ref} (standard): {_verdict(r_standard)}"]
    try:
        promote(ws, robust.ref)
    except GateFailed as e:
        return StageResult("CP6", False, (*lines, f"{robust.ref} not promoted: {e.message}"))
    lines.append(f"promoted {robust.ref} to production")
    try:
        promote(ws, standard.ref)
        lines.append(f"{standard.ref} was promoted: the gate did NOT stop it")
    except GateFailed:
        lines.append(f"promotion of {standard.ref} refused by the gate (exit 1 on the CLI)")
    serving = _register(ctx, _repackage(ws, _ref(pgd)), lines)
    try:
        promote(ws, serving.ref)
        lines.append(f"promoted {serving.ref} (repackaged for serving) to production")
        back = rollback(ws, NAME)
        lines.append(f"rolled back production {NAME}@{back.previous} -> {NAME}@{back.version}")
    except Error as e:
        lines.append(f"promotion/rollback of {serving.ref} failed: {e.message}")
        back = None
    lines += _table_model(ctx)
    path = write_version_reports(ctx, ctx.workdir / "reports")
    lines += [f"version report: {p}" for p in path]
    ok = (r_robust.passed and "CP4" in [c.control for c in r_standard.failing()]
          and back is not None and back.version == robust.version)
    ctx.artifacts.update(registry_model=NAME, registry_production=f"{NAME}@production")
    return StageResult("CP6", ok, tuple(lines))


def _table_model(ctx: DemoContext) -> list[str]:
    """The customer-table model: registered, carded with fairness on gender, gated."""
    from cpmap.errors import Error
    from cpmap.gate.evaluate import evaluate
    from cpmap.registry.card import build_card, record_card
    from cpmap.registry.card_render import fairness_for
    from cpmap.registry.intake import register_any

    ref = ctx.artifacts.get("customers_model_ref") or ctx.artifacts.get("customers_model")
    table = ctx.artifacts.get("customers_csv")
    if ref is None or table is None:
        return []
    try:
        mv = register_any(ctx.ws, "customers", _ref(ref), card={
            **CARD, "description": "Loan-default classifier on the synthetic customer table.",
            "intended_use": "Demonstrating fairness metrics and the gate on tabular data."},
            scan=True).version
        fair = fairness_for(ctx.ws, mv, Path(table), "gender")
    except Error as e:
        return [f"customers model: not carded ({e.message})"]
    record_card(ctx.ws, mv, build_card(ctx.ws, mv, fairness=fair), ["intended_use"])
    result = evaluate(ctx.ws, mv)
    return [f"{mv.ref}: fairness on gender: demographic parity difference "
            f"{fair['demographic_parity_difference']:.3f}, equalized odds difference "
            f"{fair['equalized_odds_difference']:.3f}; {_verdict(result, short=True)}"]


def write_version_reports(ctx: DemoContext, out_dir: Path) -> list[Path]:
    """The per-version map of what is in production (the demo command may call this too, next
    to the workspace report)."""
    from cpmap.formats.report import write_version_report
    from cpmap.registry.versions import aliases

    if "production" not in aliases(ctx.ws, NAME):
        return []
    return [write_version_report(ctx.ws, f"{NAME}@production", out_dir / f"{NAME}-production")]
