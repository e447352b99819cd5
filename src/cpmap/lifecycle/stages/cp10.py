"""CP10 stage: the loop closed, from a drift alert back through the gate to a canary.

The failing CP9 drift evidence about production (the CP9 stage's, or a drift comparison run
here: :mod:`cp10_setup`) triggers one retraining run; a clean batch, a poisoned one and one
with planted PII are fed to it with the review queue's export (a scripted reviewer decides the
flagged items through the real HTTP endpoints: :mod:`cp10_review`); the intake refuses the
poisoned and PII batches with their reasons; the candidate is retrained with production's
recipe (every epoch of it; the candidate's CP4 evaluation and CP5 campaign are sized to the
demo, a policy the stage prints), gated, served as a canary to half the clients of a live
gateway (natural held-out digits), compared with production and promoted or rolled back; after
a promotion the same gateway reloads and monitors the new version against its own CP8
baseline; ``cpmap ledger verify``'s checks pass at the end. A candidate the gate refuses
stops there, production untouched, which the stage shows with the reasons.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from cpmap.lifecycle.context import Context, StageResult

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.retrain.pipeline import RunResult

NAME = "digits"
EVAL_SAMPLES = 100  # the candidate's CP4 rows: its interval is printed with the result


def _configure(ws: Workspace, standalone: bool) -> list[str]:
    """The demo's retraining policy, printed: the candidate keeps production's recipe (every
    epoch); its CP4 evaluation and CP5 campaign are sized to the demo's time budget."""
    from cpmap.lifecycle.stages.cp4 import SETTINGS
    from cpmap.lifecycle.stages.cp10_setup import CAMPAIGN
    from cpmap.robustness.runner import shortfall

    r = ws.config.setdefault("retraining", {})
    r.setdefault("eval_samples", EVAL_SAMPLES)
    r.setdefault("attack", {"apgd_steps": SETTINGS.apgd_steps, "fab_steps": SETTINGS.fab_steps,
                            "square_iters": SETTINGS.square_iters})
    r.setdefault("campaign", CAMPAIGN)
    from cpmap.retrain.pipeline import attack_settings

    weaker = shortfall(attack_settings(ws), ["apgd", "fab-t", "square"])
    plan: dict[str, Any] = CAMPAIGN
    m, x = plan["membership"], plan["extraction"]
    lines = [f"demo retraining policy: production's recipe in full; candidate CP4 evaluation "
             f"on {r['eval_samples']} rows ({weaker or 'AutoAttack strength'}); CP5 campaign: "
             f"fuzzing {plan['fuzzing']['examples']} examples, extraction budgets "
             f"{'/'.join(map(str, x['budgets']))}, membership {'/'.join(m['attacks'])} with "
             f"{m['reference_models']} reference model(s)"]
    if not standalone:
        return lines
    _standalone_policy(ws)
    return [*lines, "run alone: a 4-epoch production MLP made here; demo policy [gate.CP4] "
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
    from cpmap.gateway import run_in_thread
    from cpmap.lifecycle.data import held_out
    from cpmap.lifecycle.stages import cp10_traffic as t
    from cpmap.retrain import rollout

    assert result.candidate is not None  # noqa: S101 - a gated run has a candidate
    rollout.start(ctx.ws, result.candidate.ref, share=0.5)
    lines.append(f"canary {result.candidate.ref} started (gateway check passed), 50% of "
                 "clients, sticky")
    gw, canary, note = t.serve(ctx.ws, NAME)
    if note:
        lines.append(note)
    x = held_out(ctx.ws, NAME)
    running = run_in_thread(gw)
    started, after = time.monotonic(), True
    try:
        codes = t.canary_traffic(ctx.ws, gw, running.url, NAME, x)
        lines.append(f"canary traffic: 60 clients x 2 held-out digits (natural test data), "
                     f"HTTP {dict(sorted(codes.items()))}")
        at = len(lines)  # CP8's view of it follows, once the log is flushed
        d = rollout.decide(ctx.ws, NAME, canary)
        c, p = d.comparison.get("candidate", {}), d.comparison.get("production", {})
        lines.append(f"canary vs production: golden accuracy {c.get('golden_accuracy')} vs "
                     f"{p.get('golden_accuracy')}, mean confidence {c.get('mean_confidence')} "
                     f"vs {p.get('mean_confidence')}, requests {c.get('requests')} vs "
                     f"{p.get('requests')}")
        lines.append(f"decision: {d.action}" + (f" ({d.alert})" if d.alert else ""))
        ok = d.action in ("promote", "rollback")
        if d.action == "promote":
            more, after = t.after_promotion(ctx.ws, gw, running.url, NAME, x)
            lines += more
    finally:
        running.stop()
    since = time.monotonic() - started + 1
    canary_flags = [t.flagged(ctx.ws, ref, f"canary-client-{i}", since)
                    for ref in (result.candidate.ref, result.production or "")
                    for i in range(60)]
    hit, scored = sum(f[0] for f in canary_flags), sum(f[1] for f in canary_flags)
    lines.insert(at, f"CP8 on the canary traffic: {hit}/{scored} scored requests flagged "
                     "OOD, each version against its own baseline")
    return ok and after


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
