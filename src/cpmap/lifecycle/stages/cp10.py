"""CP10 stage: the loop closed, from a drift alert back through the gate to a canary.

The failing CP9 drift evidence about production (the CP9 stage's, or a drift comparison run
here: :mod:`cp10_setup`) triggers one retraining run; a clean batch, a poisoned one and one
with planted PII are fed to it with the review queue's export (a scripted reviewer decides the
flagged items through the real HTTP endpoints: :mod:`cp10_review`); the intake refuses the
poisoned and PII batches with their reasons; the candidate is retrained with production's
recipe (``[retraining] epochs = 3`` keeps the demo short: recorded in the run), gated, served
as a canary to half the clients of a live gateway, compared with production and promoted or
rolled back; ``cpmap ledger verify``'s checks pass at the end. A candidate the gate refuses
stops there, production untouched, which the stage shows with the reasons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cpmap.lifecycle.context import Context, StageResult

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.retrain.pipeline import RunResult

NAME = "digits"


def _configure(ws: Workspace, standalone: bool) -> list[str]:
    r = ws.config.setdefault("retraining", {})
    r.setdefault("epochs", 3)
    r.setdefault("eval_samples", 100)
    from cpmap.lifecycle.stages.cp10_setup import CAMPAIGN

    r.setdefault("campaign", CAMPAIGN)
    if not standalone:
        return ["retraining: epochs capped at 3, 100 evaluation samples (demo budget)"]
    _standalone_policy(ws)
    return ["run alone: a 4-epoch production MLP made here; demo policy [gate.CP4] "
            "min_robust_accuracy = 0 (the full demo keeps the real policy)"]


def _standalone_policy(ws: Workspace) -> None:
    """cpmap.toml's [gate.CP4] min_robust_accuracy = 0 and CP6's demo membership FPR."""
    import re

    from cpmap.core import config as cfg
    from cpmap.lifecycle.stages.cp6_evidence import demo_membership_fpr

    retraining = dict(ws.config.get("retraining", {}))  # demo_membership_fpr reloads
    toml = ws.dir / "cpmap.toml"
    text = toml.read_text()
    toml.write_text(re.sub(r"(?m)^min_robust_accuracy = 0\.4$", "min_robust_accuracy = 0.0",
                           text, count=1))
    demo_membership_fpr(ws)
    ws.config.clear()
    ws.config.update(cfg.load(toml))
    ws.config["retraining"] = {**ws.config.get("retraining", {}), **retraining}


def _production(ctx: Context) -> tuple[Any, list[str]]:
    from cpmap.errors import Error
    from cpmap.registry.versions import get

    try:
        return get(ctx.ws, f"{NAME}@production"), _configure(ctx.ws, False)
    except Error:
        lines = _configure(ctx.ws, True)
        from cpmap.lifecycle.stages.cp10_setup import bootstrap

        mv = bootstrap(ctx.ws, ctx.workdir, NAME)
        return mv, [*lines, f"production {mv.ref} bootstrapped"]


def _canary(ctx: Context, result: RunResult, lines: list[str]) -> bool:
    from cpmap.lifecycle.stages.cp10_traffic import traffic
    from cpmap.retrain import rollout

    assert result.candidate is not None  # noqa: S101 - a gated run has a candidate
    rollout.start(ctx.ws, result.candidate.ref, share=0.5)
    lines.append(f"canary {result.candidate.ref} started (gateway check passed), 50% of "
                 "clients, sticky")
    canary, note = traffic(ctx.ws, NAME)
    if note:
        lines.append(note)
    d = rollout.decide(ctx.ws, NAME, canary)
    c, p = d.comparison.get("candidate", {}), d.comparison.get("production", {})
    lines.append(f"canary vs production: golden accuracy {c.get('golden_accuracy')} vs "
                 f"{p.get('golden_accuracy')}, mean confidence {c.get('mean_confidence')} vs "
                 f"{p.get('mean_confidence')}, requests {c.get('requests')} vs "
                 f"{p.get('requests')}")
    lines.append(f"decision: {d.action}" + (f" ({d.alert})" if d.alert else ""))
    return d.action in ("promote", "rollback")


def run(ctx: Context) -> StageResult:
    from cpmap.errors import Error

    try:
        lines, ok = _run(ctx)
    except Error as e:
        return StageResult("CP10", False, (f"retraining stage failed: {e.diagnostics()}",))
    return StageResult("CP10", ok, tuple(lines))


def _run(ctx: Context) -> tuple[list[str], bool]:
    from cpmap.core.derived_tables import check_derived
    from cpmap.core.ledger import Ledger, verify_ledger
    from cpmap.lifecycle.stages.cp10_review import queue_flagged, review
    from cpmap.lifecycle.stages.cp10_setup import batches, drift_alert
    from cpmap.retrain.intake import Batch
    from cpmap.retrain.pipeline import run as retrain
    from cpmap.retrain.triggers import alerts

    ws = ctx.ws
    mv, lines = _production(ctx)
    _, how = drift_alert(ws, mv)
    lines.append(how)
    trigger = next(t for t in reversed(alerts(ws, NAME)) if t.trigger == "drift")
    queued = queue_flagged(ws, mv)
    decided, exported = review(ws, mv, ctx.workdir / "review-export")
    lines.append(f"review: {len(queued)} low-confidence predictions queued, {decided} decided "
                 f"over HTTP by a scripted reviewer; export {exported.dataset.ref} "
                 f"({exported.rows} rows, {exported.attacks} attack)")
    files = batches(ctx.workdir)
    feed = [Batch(files["clean"], files["clean"].as_uri()),
            Batch(files["poisoned"], files["poisoned"].as_uri()),
            Batch(files["pii"], files["pii"].as_uri()),
            Batch(exported.csv, "transform:review-export")]
    result = retrain(ws, NAME, trigger, feed, log=ctx.log)
    for i in result.intakes:
        lines.append(f"batch {i.batch.path.name}: " + (
            "accepted" if i.accepted else f"refused by {i.refused_by}: {i.reason}"))
    lines.append(f"run {result.run_id} ({trigger.key}): {result.status}"
                 + (f", candidate {result.candidate.ref}" if result.candidate else ""))
    refused = {i.batch.path.name: i.refused_by for i in result.intakes if not i.accepted}
    ok = refused.get("poisoned.csv") == "CP9-poisoning" and refused.get("pii.csv") == "CP2-pii"
    if result.passed:
        ok = _canary(ctx, result, lines) and ok
    else:
        lines += [f"gate: {r}" for r in result.gate_reasons[:3]]
        lines.append(f"production stays {mv.ref}")
    report = verify_ledger(Ledger(ws))
    check_derived(ws)
    lines.append(f"ledger verified: {report.size} entries, derived tables match")
    return lines, ok
