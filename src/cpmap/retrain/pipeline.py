"""One retraining run: the production recipe on the original data plus accepted new data,
evaluated (CP4) and attacked (CP5), registered (CP6) and gated.

The recipe comes from the production version's signed lineage (its training record: the
architecture, adversarial method and eps, seed, DP settings), not from a config a caller could
change; ``[retraining] epochs`` may only lower the epoch count, and the run records it. The
training set is a new CP1 dataset whose parents are the production training data and every
accepted batch, so the candidate's lineage reaches each of them (and the gate's CP1/CP2/CP10
requirements judge them). The candidate's training record names the trigger. A candidate that
fails the gate stops with the reasons; production is not touched (only :mod:`rollout` moves
it, through the gate).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import insert, update

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.errors import InputError
from cpmap.retrain.intake import Batch, Intake, Refused, check_batch, read_rows
from cpmap.retrain.predicates import RetrainRun
from cpmap.retrain.tables import retrain_runs
from cpmap.retrain.triggers import Trigger, accept, run_lock
from cpmap.review.queue import decided_count

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.drift.poisoning import Round
    from cpmap.gate.evaluate import GateResult
    from cpmap.models.datasets import Dataset
    from cpmap.registry.manifest import ModelVersion
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.runner import AttackSettings

Log = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    run_id: str
    model: str
    trigger: Trigger
    status: str  # "gated" | "gate-failed" | "duplicate"
    production: str | None = None
    candidate: ModelVersion | None = None
    intakes: tuple[Intake, ...] = ()
    gate_reasons: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    recipe: dict[str, Any] = field(default_factory=dict)
    entry: int = -1

    @property
    def passed(self) -> bool:
        return self.status == "gated"

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "model": self.model, "trigger": self.trigger.trigger,
                "trigger_key": self.trigger.key, "status": self.status,
                "production": self.production,
                "candidate": self.candidate.ref if self.candidate else None,
                "batches": [i.to_dict() for i in self.intakes],
                "gate_reasons": list(self.gate_reasons), "datasets": list(self.datasets),
                "recipe": self.recipe, "entry": self.entry}


def recipe(mv: ModelVersion, ws: Workspace) -> TrainConfig:
    """The production version's training configuration, from its signed lineage."""
    from cpmap.robustness.config import TrainConfig

    train = dict(mv.lineage.training or {})
    cfg = train.get("config")
    if not isinstance(cfg, dict):
        raise InputError(f"{mv.ref}: its lineage holds no training configuration to retrain "
                         "with (it was not trained by `cpmap train`)")
    known = {f.name for f in fields(TrainConfig)}
    values: dict[str, Any] = {k: (tuple(v) if k == "hidden" else v)
                              for k, v in cfg.items() if k in known}
    out = TrainConfig(**values)
    cap = ws.setting("retraining", "epochs", None)
    if isinstance(cap, int) and 0 < cap < out.epochs:
        out = replace(out, epochs=cap)
    return out.check()


def _anchor(ws: Workspace, mv: ModelVersion, cfg: TrainConfig) -> tuple[str, Dataset]:
    from cpmap.models.datasets import load_dataset

    if not mv.lineage.datasets:
        raise InputError(f"{mv.ref}: no training dataset in its lineage to retrain on")
    d = mv.lineage.datasets[0]
    ref = f"sha256:{d.digest}"
    return ref, load_dataset(ref, ws, label=cfg.label, purpose=f"retraining {mv.name}")


def _merged(ws: Workspace, name: str, run_id: str, anchor: Dataset,
            accepted: Sequence[Intake]) -> str:
    """The training set: the anchor plus the accepted rows, registered with lineage to all."""
    from cpmap.provenance.datasets import register_dataset

    xs = [anchor.x, *[i.x for i in accepted if i.x is not None]]
    ys = [anchor.y, *[i.y for i in accepted if i.y is not None]]
    out = ws.root / "retrain" / run_id / f"{name}-train.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    classes = np.array(anchor.classes)
    with out.open("wb") as fh:
        np.savez(fh, x=np.concatenate(xs).astype(np.float32),
                 y=classes[np.concatenate(ys)])
    parents = [anchor.digest, *[i.dataset.digest for i in accepted if i.dataset]]
    return register_dataset(ws, f"{name}-retrain", out, parents=parents,
                            transform="retrain-merge").ref


def attack_settings(ws: Workspace) -> AttackSettings:
    """The candidate's CP4 attack strength: AutoAttack's standard run unless
    ``[retraining.attack]`` lowers it (``apgd_steps``, ``fab_steps``, ``square_iters``,
    ``steps``); a weaker run says so in its evidence (``runner.shortfall``)."""
    from cpmap.robustness.runner import AttackSettings

    given = ws.setting("retraining", "attack", {}) or {}
    known = {"steps", "apgd_steps", "fab_steps", "square_iters", "hsj_iterations"}
    if not isinstance(given, dict) or not set(given) <= known or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in given.values()):
        raise InputError(f"[retraining.attack] {given!r}: positive integers for "
                         f"{', '.join(sorted(known))}")
    return AttackSettings(**given)


def _evidence(ws: Workspace, store_ref: str, data: str) -> list[str]:
    """A CP4 evaluation at the gate's eps and a CP5 campaign of the candidate: fuzzing,
    extraction (the gateway's query budget comes from it) and membership inference;
    ``[retraining.campaign]`` adjusts the sections. What they measured, as lines."""
    from cpmap.gate.policy import load as load_policy
    from cpmap.redteam.plan import from_dict
    from cpmap.redteam.service import run_campaign
    from cpmap.robustness.control import CP4Rule
    from cpmap.robustness.service import evaluate_model

    rule = load_policy(ws).rule("CP4")
    assert isinstance(rule, CP4Rule)  # noqa: S101 - the registry declares CP4's rule type
    attacks = list(rule.ensemble) if rule.attack == "ensemble" else [rule.attack]
    samples = int(ws.setting("retraining", "eval_samples", 300))
    settings = attack_settings(ws)
    ev = evaluate_model(ws, store_ref, data, [rule.eps], attacks, samples=samples, seed=0,
                        settings=settings).evaluation
    from cpmap.robustness.runner import shortfall

    weaker = shortfall(settings, attacks)
    lines = [f"{store_ref}: CP4 per-example worst case at eps {rule.eps:g} "
             f"{ev.robust_at(rule.eps) or 0:.3f} (clean {ev.clean_accuracy:.3f}, "
             f"{samples} rows)" + (f"; {weaker}" if weaker else "")]
    # extraction stays on: the gateway sizes the candidate's query budget from it (CP7)
    sections: dict[str, Any] = {"evasion": {"enabled": False},
                                "inversion": {"enabled": False},
                                "membership": {"reference_models": 2}}
    custom = ws.setting("retraining", "campaign", {}) or {}  # [retraining.campaign] sections
    for section, values in (custom.items() if isinstance(custom, dict) else ()):
        sections[str(section)] = {**sections.get(str(section), {}), **dict(values)}
    plan = from_dict(sections, "retraining plan")
    result = run_campaign(ws, store_ref, data, plan=plan)
    from cpmap.redteam.membership import summary_text

    m = result.metrics.get("membership", {})
    best = next((a for a in m.get("attacks", []) if a.get("attack") == m.get("attack")), None)
    lines.append(f"{store_ref}: CP5 campaign ({', '.join(result.metrics)}): "
                 f"{len(result.findings)} finding(s)"
                 + (f"; membership {summary_text(best)}" if best else ""))
    return lines


def _card(ws: Workspace, mv: ModelVersion, production: ModelVersion) -> None:
    """The candidate's model card: the production card's prose, with the CP6 measurements."""
    from cpmap.registry.card import build_card, record_card

    prose = {k: v for k, v in (production.card or {}).items()
             if k in ("intended_use", "limitations", "out_of_scope_use", "license", "owners",
                      "ethical_considerations")}
    prose.setdefault("intended_use", f"The uses of {production.ref}, which it retrains.")
    prose.setdefault("limitations", "As the production version's, on the new data added.")
    record_card(ws, mv, build_card(ws, mv, prose), ["intended_use", "limitations"])


def _baseline(ws: Workspace, mv: ModelVersion, log: Log) -> None:
    """The candidate's CP8 input baseline from its lineage (production requires one, and the
    canary's OOD comparison scores against it). Data too small for one is said, not fatal:
    the gate then names what is missing."""
    from cpmap.monitor.baseline import BaselineError, build

    try:
        build(ws, mv.ref)
    except BaselineError as e:
        log(f"{mv.ref}: no CP8 baseline: {e.message}")


def _since_anchor(ws: Workspace, production: ModelVersion, anchor: Dataset) -> list[Round]:
    """The batches accepted by earlier runs against this production version, oldest first:
    the rounds the poisoning check accumulates over (a slow walk spread over several runs,
    each refused by the gate or never promoted, still adds up). Batches whose data can no
    longer be read are skipped: the ledger keeps their verdicts."""
    from cpmap.drift.poisoning import Round
    from cpmap.provenance.datasets import get_dataset

    label = str(ws.setting("retraining", "label", "label"))
    out: list[Round] = []
    for h in history(ws, production.name):
        if h.get("production") != production.ref:
            continue
        for b in h.get("batches") or []:
            if not b.get("accepted") or not b.get("dataset"):
                continue
            try:
                path = Path(ws.absolute(get_dataset(ws, str(b["dataset"])).path))
                x, y = read_rows(path, anchor, label)
            except (InputError, Refused, OSError):
                continue
            out.append(Round(x, y, str(b["batch"])))
    return out


def _intake(ws: Workspace, production: ModelVersion, anchor: Dataset,
            batches: Sequence[Batch]) -> tuple[Intake, ...]:
    """Every batch through the intake, each judged after the rounds accepted before it."""
    from cpmap.drift.poisoning import Round

    earlier = _since_anchor(ws, production, anchor) if batches else []
    out = []
    for b in batches:
        it = check_batch(ws, production.name, b, anchor, earlier)
        if it.accepted and it.x is not None and it.y is not None:
            earlier.append(Round(it.x, it.y, b.path.name))
        out.append(it)
    return tuple(out)


def _golden(ws: Workspace, mv: ModelVersion, log: Log) -> None:
    """The candidate re-validated on production's golden set (``<name>-golden``): production
    requires a passing, recent golden-set run (CP9). No golden set is said, not fatal: the
    gate then names what is missing."""
    from cpmap.drift.golden import run as golden_run
    from cpmap.errors import InputError

    try:
        g = golden_run(ws, mv.ref, f"{mv.name}-golden")
    except InputError as e:
        log(f"{mv.ref}: no CP9 golden-set run: {e.message}")
        return
    log(f"{mv.ref}: golden set {g.golden}: accuracy {g.accuracy:.3f} -> "
        + ("pass" if g.passed else "FAIL: " + "; ".join(g.reasons)))


def _gate(ws: Workspace, mv: ModelVersion) -> GateResult:
    from cpmap.gate.evaluate import evaluate

    return evaluate(ws, mv)


def run(ws: Workspace, name: str, trigger: Trigger, batches: Sequence[Batch] = (), *,
        log: Log = lambda _: None) -> RunResult:
    """One run for ``trigger`` under ``name``'s run lock (see the module doc)."""
    from cpmap.registry.versions import get

    production = get(ws, f"{name}@production")
    run_id = uuid.uuid4().hex[:16]
    with run_lock(ws, name):
        fail_interrupted(ws, name, log)
        if not accept(ws, trigger, run_id):
            return RunResult(run_id, name, trigger, "duplicate", production.ref)
        _start(ws, run_id, name, trigger, production.ref)
        try:
            result = _run(ws, production, run_id, trigger, batches, log)
        except BaseException as e:
            _finish(ws, RunResult(run_id, name, trigger, "failed", production.ref,
                                  gate_reasons=(str(e)[:300],)))
            raise
        return _finish(ws, result)


def _run(ws: Workspace, production: ModelVersion, run_id: str, trigger: Trigger,
         batches: Sequence[Batch], log: Log) -> RunResult:
    from cpmap.registry.intake import register_any
    from cpmap.robustness.service import train_model

    name = production.name
    cfg = recipe(production, ws)
    anchor_ref, anchor = _anchor(ws, production, cfg)
    intakes = _intake(ws, production, anchor, batches)
    for i in intakes:
        log(f"batch {i.batch.path.name}: " + ("accepted" if i.accepted else
                                              f"refused by {i.refused_by}: {i.reason}"))
    accepted = [i for i in intakes if i.accepted]
    data = _merged(ws, name, run_id, anchor, accepted)
    trained = train_model(ws, data, cfg, f"{name}_retrain")
    log(f"trained {trained.version.ref} on {data}: clean "
        f"{trained.metrics['clean_accuracy']:.3f}")
    for line in _evidence(ws, trained.version.ref, data):
        log(line)
    training = {**trained.version.record, "retraining": {
        "run_id": run_id, "trigger": trigger.trigger, "trigger_key": trigger.key,
        "trigger_digest": trigger.digest, "production": production.ref}}
    card = {"description": f"{name} retrained by CP10 run {run_id} ({trigger.trigger}: "
                           f"{trigger.reason})"}
    mv = register_any(ws, name, trained.version.ref, training=training, card=card,
                      scan=True).version
    _card(ws, mv, production)
    _baseline(ws, mv, log)
    _golden(ws, mv, log)
    result = _gate(ws, mv)
    reasons = tuple(f"{c.control} {c.status}: {r}" for c in result.failing() for r in c.reasons)
    log(f"{mv.ref}: gate " + ("passed" if result.passed else "failed: " + "; ".join(reasons)))
    datasets = (anchor_ref, *[i.dataset.ref for i in accepted if i.dataset], data)
    return RunResult(run_id, name, trigger, "gated" if result.passed else "gate-failed",
                     production.ref, mv, intakes, reasons, datasets,
                     {**cfg.to_dict(), "from": production.ref})


INTERRUPTED = ("interrupted: the worker stopped before the run finished (killed, or its "
               "machine went down); its trigger is not run again")


def recover(ws: Workspace, name: str, log: Log = lambda _: None) -> list[RunResult]:
    """Mark ``name``'s interrupted runs failed, under its run lock; nothing when a live
    worker holds the lock (its run is not interrupted)."""
    from cpmap.retrain.triggers import RunInProgress

    try:
        with run_lock(ws, name):
            return fail_interrupted(ws, name, log)
    except RunInProgress:
        return []


def fail_interrupted(ws: Workspace, name: str, log: Log = lambda _: None) -> list[RunResult]:
    """Runs of ``name`` still ``running`` in the store, found while holding its run lock.

    The run lock is held for a run's whole length and is released by the database (a
    session advisory lock) or the kernel (``flock``) when its worker dies, so such a run's
    worker is gone: a ``kill -9`` between ``_start`` and ``_finish``. Each is finished as
    ``failed`` with signed CP10 evidence, naming the candidate it had registered, if any
    (registration is one transaction: a version is registered whole or not at all; it is
    not gated, and production is untouched)."""
    from sqlalchemy import select

    from cpmap.retrain.tables import retrain_triggers

    with ws.store.read() as conn:
        stale = conn.execute(select(retrain_runs.c.run_id, retrain_runs.c.trigger_key,
                                    retrain_runs.c.summary).where(
            retrain_runs.c.model == name, retrain_runs.c.status == "running")).all()
        triggers = {str(r.key): r for r in conn.execute(select(retrain_triggers).where(
            retrain_triggers.c.key.in_([str(s.trigger_key) for s in stale])))}
    out = []
    for row in stale:
        t = triggers.get(str(row.trigger_key))
        trig = Trigger(name, str(t.trigger) if t else "manual", str(row.trigger_key),
                       str(t.reason) if t else "")
        production = json.loads(row.summary or "{}").get("production")
        log(f"{name}: run {row.run_id} was interrupted; marked failed")
        out.append(_finish(ws, RunResult(str(row.run_id), name, trig, "failed", production,
                                         _candidate_of(ws, name, str(row.run_id)),
                                         gate_reasons=(INTERRUPTED,))))
    return out


def _candidate_of(ws: Workspace, name: str, run_id: str) -> ModelVersion | None:
    """The version an interrupted run registered (its training record names the run)."""
    from cpmap.registry.versions import list_versions

    for mv in list_versions(ws, name):
        if (mv.lineage.training or {}).get("retraining", {}).get("run_id") == run_id:
            return mv
    return None


def _start(ws: Workspace, run_id: str, name: str, t: Trigger,
           production: str | None = None) -> None:
    with ws.store.write() as conn:
        conn.execute(insert(retrain_runs).values(
            run_id=run_id, model=name, trigger_key=t.key, status="running",
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            summary=json.dumps({"production": production})))


def _finish(ws: Workspace, r: RunResult) -> RunResult:
    refused = tuple({"batch": i.batch.path.name, "by": i.refused_by, "reason": i.reason}
                    for i in r.intakes if not i.accepted)
    pred = RetrainRun(
        verdict=Verdict.PASS if r.passed else Verdict.FAIL,
        batches_accepted=sum(1 for i in r.intakes if i.accepted),
        batches_refused=len(refused), review_decided=decided_count(ws, r.model),
        gate_passed=r.passed, run_id=r.run_id, model=r.model, trigger=r.trigger.trigger,
        trigger_key=r.trigger.key, production=r.production,
        candidate=r.candidate.ref if r.candidate else None, status=r.status,
        datasets=r.datasets, refused=refused, gate_reasons=r.gate_reasons, recipe=r.recipe,
        history=_past(ws, r.model), highlights=_highlights(ws, r, refused))
    subjects = [Subject(f"trigger:{r.trigger.key}", r.trigger.digest)]
    if r.candidate is not None:
        subjects.insert(0, Subject(f"model:{r.candidate.ref}", r.candidate.digest))
    entry = record(Evidence.of(pred, subjects), ws)
    with ws.store.write() as conn:
        conn.execute(update(retrain_runs).where(retrain_runs.c.run_id == r.run_id).values(
            status=r.status, finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            summary=json.dumps(r.to_dict() | {"entry": entry.index})))
    return replace(r, entry=entry.index)


def _past(ws: Workspace, name: str) -> tuple[dict[str, Any], ...]:
    out = []
    for h in history(ws, name)[-10:]:
        batches = h.get("batches") or []
        out.append({"run_id": h["run_id"], "trigger": h.get("trigger"), "status": h["status"],
                    "candidate": h.get("candidate"),
                    "accepted": sum(1 for b in batches if b.get("accepted")),
                    "refused": sum(1 for b in batches if not b.get("accepted"))})
    return tuple(o for o in out if o["status"] != "running")


def _highlights(ws: Workspace, r: RunResult, refused: tuple[dict[str, Any], ...]
                ) -> tuple[str, ...]:
    """The run as the report's CP10 cell shows it: trigger, data, review, gate."""
    accepted = [i.batch.path.name for i in r.intakes if i.accepted]
    out = [f"run {r.run_id}: trigger {r.trigger.trigger} ({r.trigger.reason})",
           f"data: {len(accepted)} batch(es) accepted"
           + (f" ({', '.join(accepted)})" if accepted else "") + f", {len(refused)} refused",
           *[f"refused {b['batch']}: {b['by']}: {str(b['reason'])[:120]}" for b in refused],
           f"review: {decided_count(ws, r.model)} item(s) decided",
           f"gate: {'passed' if r.passed else r.status}"
           + (f", candidate {r.candidate.ref}" if r.candidate else "")
           + (f" ({r.gate_reasons[0][:120]})" if r.gate_reasons else "")]
    past = RetrainRun(verdict=Verdict.INFO, history=_past(ws, r.model)[-4:]).history_lines()
    return tuple(out + [f"earlier {line}" for line in past])


def history(ws: Workspace, name: str | None = None) -> list[dict[str, Any]]:
    """Every run (newest last) as recorded in the store."""
    from sqlalchemy import select

    q = select(retrain_runs).order_by(retrain_runs.c.started_at)
    if name is not None:
        q = q.where(retrain_runs.c.model == name)
    with ws.store.read() as conn:
        rows = conn.execute(q).all()
    return [{"run_id": r.run_id, "model": r.model, "status": r.status,
             "started_at": r.started_at, **json.loads(r.summary or "{}")} for r in rows]


def batch_from(path: Path, source: str | None, supplier: str | None = None,
               attestation: Path | None = None) -> Batch:
    return Batch(path.resolve(), source or path.resolve().as_uri(), supplier, attestation)
