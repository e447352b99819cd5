"""What the CP6 stage adds before it gates a registered model: the card text, a CP4 evaluation
and a CP5 campaign when that exact digest has none, and the recorded acceptance of residual CP5
evasion findings on a model that meets the CP4 robustness requirement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.gate.evaluate import GateResult
    from cpmap.registry.manifest import ModelVersion

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


def _has(ws: Workspace, mv: ModelVersion, control: str, kind: str,
         pred: Any = None) -> bool:
    from cpmap.core.ledger import Ledger

    return any(e.predicate.get("control") == control and (pred is None or pred(e))
               for e in Ledger(ws).entries(digest=mv.digest, kind=kind))


def ensure_cp4(ws: Workspace, store_ref: str, mv: ModelVersion, data: str) -> str | None:
    """Evaluate what the gate reads at its eps (by default the whole ensemble, worst case per
    example) unless that evaluation already exists."""
    from cpmap.gate.evidence import item_of
    from cpmap.gate.policy import load as load_policy
    from cpmap.robustness.control import CP4Rule
    from cpmap.robustness.predicates import RobustnessEvaluation

    rule = load_policy(ws).rule("CP4")
    assert isinstance(rule, CP4Rule)  # noqa: S101 - the registry declares CP4's rule type
    eps = rule.eps
    attacks = list(rule.ensemble) if rule.attack == "ensemble" else [rule.attack]

    def at_eps(e: Any) -> bool:
        p = item_of(e).predicate
        return isinstance(p, RobustnessEvaluation) and set(attacks) <= p.attacks_at(eps) and (
            rule.attack != "ensemble" or bool(p.worst_at_least(eps, attacks)))

    if _has(ws, mv, "CP4", "robustness-evaluation", at_eps):
        return None
    from cpmap.lifecycle.stages.cp4 import SETTINGS
    from cpmap.robustness.runner import shortfall
    from cpmap.robustness.service import evaluate_model

    # the CP4 stage's strength (and rows), so both digits versions are measured alike
    ev = evaluate_model(ws, store_ref, data, [eps], attacks, samples=300, seed=0,
                        settings=SETTINGS).evaluation
    masks = [f.rule_id for f in ev.findings if f.rule_id.startswith("CP4-MASK")]
    weaker = shortfall(SETTINGS, attacks)
    return (f"{mv.ref}: {', '.join(attacks)} at eps {eps:g}: per-example worst case "
            f"{ev.robust_at(eps) or 0:.3f} (clean {ev.clean_accuracy:.3f}, 300 rows)"
            + (f"; masking findings: {', '.join(masks)}" if masks else "")
            + (f"; {weaker}" if weaker else ""))


def demo_membership_fpr(ws: Workspace) -> str | None:
    """Test CP5's membership TPR at 1% FPR in the demo workspace, and say why: digits keeps
    450 held-out rows, and 0.1% FPR needs 1,000 non-members (the gate would refuse to pass
    "not enough non-members to test at this FPR", which is the true answer at 0.1%)."""
    import re

    from cpmap.core import config as cfg

    toml = ws.dir / "cpmap.toml"
    text = toml.read_text()
    new = re.sub(r"(?m)^membership_fpr = 0\.001$", "membership_fpr = 0.01", text, count=1)
    if new == text:
        return None
    toml.write_text(new)
    ws.config.clear()
    ws.config.update(cfg.load(toml))
    return ("demo policy: [gate.CP5] membership_fpr = 0.01 (digits has 450 held-out rows; "
            "membership at 0.1% FPR needs at least 1000 non-members)")


def ensure_cp5(ws: Workspace, store_ref: str, mv: ModelVersion, data: str) -> str | None:
    """A small seeded campaign (fuzzing and membership inference) unless one measured
    membership inference on this model already."""
    from cpmap.gate.evidence import item_of
    from cpmap.redteam.predicates import RedteamCampaign

    def measured(e: Any) -> bool:
        p = item_of(e).predicate
        return isinstance(p, RedteamCampaign) and p.membership_nonmembers is not None

    if _has(ws, mv, "CP5", "redteam-campaign", measured):
        return None
    from cpmap.redteam.plan import from_dict
    from cpmap.redteam.service import run_campaign

    plan = from_dict({"evasion": {"enabled": False}, "extraction": {"enabled": False},
                      "inversion": {"enabled": False}, "membership": {"reference_models": 2}},
                     "registry demo plan")
    result = run_campaign(ws, store_ref, data, plan=plan)
    from cpmap.redteam.membership import summary_text

    m = result.metrics.get("membership", {})
    best = next((a for a in m.get("attacks", []) if a.get("attack") == m.get("attack")), None)
    return (f"{mv.ref}: red-team campaign, membership " + (summary_text(best) if best else
                                                            str(m.get("skipped", "skipped"))))


def accept_residual_evasion(ws: Workspace, mv: ModelVersion, result: GateResult) -> list[str]:
    """Risk acceptance, recorded: when the PGD model meets the CP4 robustness requirement, its
    residual CP5 evasion findings at the campaign's eps are accepted with that reason."""
    from cpmap.redteam.tracking import accept, list_findings

    if result.control("CP4").status != "pass":
        return []
    out = []
    for t in list_findings(ws, only_open=True):
        if t.last_digest == mv.digest and t.rule_id.startswith("CP5-EVASION"):
            accept(ws, t.id, f"residual evasion accepted for {mv.ref}: the CP4 gate requirement "
                   "(per-example worst case of the attack ensemble at the policy eps) is met",
                   by="demo model owner")
            out.append(f"accepted {t.id} ({t.rule_id}) on {mv.ref} with a recorded reason")
    return out


def training_dataset(ws: Workspace, store_ref: str) -> str:
    """The dataset a stored model was trained on (its record), to evaluate it on the same."""
    from cpmap.models.store import get_model

    rec = get_model(ws, store_ref).record
    for d in rec.get("datasets") or []:
        if isinstance(d, dict) and d.get("ref"):
            return str(d["ref"])
    return "builtin:digits"
