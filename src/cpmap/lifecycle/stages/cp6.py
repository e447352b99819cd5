"""CP6 stage: register the digits models, card them, gate, promote, roll back, report.

It needs CP4's ``digits_standard`` and ``digits_pgd`` model versions. Each registration scans
the files (CP3); a model lacking a robustness evaluation at the gate's eps (CP4) or a red-team
campaign (CP5) gets a small seeded one here (:mod:`cpmap.lifecycle.stages.cp6_evidence`), so
the gate decides on evidence about these exact digests. The PGD model passes and goes to
staging; the standard one is refused on CP4. A repackaged PGD model (same weights, serving
metadata: a new artifact, so it earns its own evidence) is promoted next, then staging is
rolled back to the first approved version in one call. Production needs CP7's gateway check of
the staged version: the CP7 stage runs it and promotes. CP4's customer-table model, when there
is one, is carded with fairness on gender and gated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cpmap.lifecycle.artifacts import Artifacts
from cpmap.lifecycle.context import Context, StageResult
from cpmap.lifecycle.project import production_reports
from cpmap.lifecycle.stages.cp6_evidence import (
    CARD,
    accept_residual_evasion,
    demo_membership_fpr,
    ensure_cp4,
    ensure_cp5,
    training_dataset,
)

if TYPE_CHECKING:
    from cpmap.gate.evaluate import GateResult
    from cpmap.registry.manifest import ModelVersion

NAME = "digits"
# CP6 promotes and rolls back on staging: production needs CP7's gateway check of the version
# served in staging (the CP7 stage runs it, then promotes to production).
STAGE = "staging"


def _register(ctx: Context, store_ref: str, lines: list[str]) -> ModelVersion:
    from cpmap.gate.evaluate import evaluate
    from cpmap.registry.card import build_card, record_card
    from cpmap.registry.card_render import html, markdown
    from cpmap.registry.intake import register_any

    ws = ctx.ws
    mv = register_any(ws, NAME, store_ref, card=CARD, scan=True).version
    data = training_dataset(ws, store_ref)
    lines += [m for m in (ensure_cp4(ws, store_ref, mv, data),
                          ensure_cp5(ws, store_ref, mv, data)) if m]
    lines += accept_residual_evasion(ws, mv, evaluate(ws, mv))
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


def _repackage(ctx: Context, store_ref: str) -> str:
    """The PGD network re-saved with serving metadata: same weights, a new artifact."""
    from cpmap.models.store import get_model, load_version, save_model

    src = get_model(ctx.ws, store_ref)
    model = load_version(ctx.ws, src)
    meta = getattr(model, "meta", None)
    if isinstance(meta, dict):
        meta["packaging"] = {"purpose": "serving", "from": src.ref}
    return save_model(ctx.ws, src.name, model, {k: v for k, v in src.record.items()
                                                if k not in {"meta", "libraries"}}).ref


def _serve_and_roll_back(ctx: Context, lines: list[str]) -> int | None:
    """Promote the repackaged PGD model, then roll the stage back: the version it went to."""
    from cpmap.errors import Error
    from cpmap.registry.stages import promote, rollback

    serving = _register(ctx, _repackage(ctx, ctx.artifacts.digits_pgd.ref), lines)
    try:
        promote(ctx.ws, serving.ref, stage=STAGE)
        lines.append(f"promoted {serving.ref} (repackaged for serving) to {STAGE}")
        back = rollback(ctx.ws, NAME, stage=STAGE)
        lines.append(f"rolled back {STAGE} {NAME}@{back.previous} -> {NAME}@{back.version}")
        return int(back.version)
    except Error as e:
        lines.append(f"promotion/rollback of {serving.ref} failed: {e.message}")
        return None


def run(ctx: Context) -> StageResult:
    from cpmap.gate.evaluate import evaluate
    from cpmap.registry.stages import GateFailed, promote

    std, pgd = ctx.artifacts.digits_standard, ctx.artifacts.digits_pgd  # CP4 made them
    ws, made = ctx.ws, Artifacts(registry_model=NAME)
    lines: list[str] = [line for line in (demo_membership_fpr(ws),) if line]
    robust = _register(ctx, pgd.ref, lines)
    standard = _register(ctx, std.ref, lines)
    r_robust, r_standard = evaluate(ws, robust), evaluate(ws, standard)
    lines += [f"{robust.ref} (PGD-trained): {_verdict(r_robust)}",
              f"{standard.ref} (standard): {_verdict(r_standard)}"]
    try:
        promote(ws, robust.ref, stage=STAGE)
    except GateFailed as e:
        return StageResult("CP6", False, (*lines, f"{robust.ref} not promoted: {e.message}"),
                           made=made)
    lines.append(f"promoted {robust.ref} to {STAGE}")
    try:
        promote(ws, standard.ref, stage=STAGE)
        lines.append(f"{standard.ref} was promoted: the gate did NOT stop it")
    except GateFailed:
        lines.append(f"promotion of {standard.ref} refused by the gate (exit 1 on the CLI)")
    back = _serve_and_roll_back(ctx, lines)
    lines += _table_model(ctx)
    lines += [f"version report: {p}"
              for p in production_reports(ws, NAME, ctx.workdir / "reports")]
    ok = (r_robust.passed and "CP4" in [c.control for c in r_standard.failing()]
          and back == robust.version)
    return StageResult("CP6", ok, tuple(lines), made=made)


def _table_model(ctx: Context) -> list[str]:
    """The customer-table model: registered, carded with fairness on gender, gated."""
    from cpmap.errors import Error
    from cpmap.gate.evaluate import evaluate
    from cpmap.registry.card import build_card, record_card
    from cpmap.registry.card_render import fairness_for
    from cpmap.registry.intake import register_any

    a = ctx.artifacts
    if not (a.has("customers_model") and a.has("customers_csv")):
        return []
    try:
        mv = register_any(ctx.ws, "customers", a.customers_model.ref, card={
            **CARD, "description": "Loan-default classifier on the synthetic customer table.",
            "intended_use": "Demonstrating fairness metrics and the gate on tabular data."},
            scan=True).version
        fair = fairness_for(ctx.ws, mv, a.customers_csv, "gender")
    except Error as e:
        return [f"customers model: not carded ({e.message})"]
    record_card(ctx.ws, mv, build_card(ctx.ws, mv, fairness=fair), ["intended_use"])
    result = evaluate(ctx.ws, mv)
    return [f"{mv.ref}: fairness on gender: demographic parity difference "
            f"{fair['demographic_parity_difference']:.3f}, equalized odds difference "
            f"{fair['equalized_odds_difference']:.3f}; {_verdict(result, short=True)}"]
