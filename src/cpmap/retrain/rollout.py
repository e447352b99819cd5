"""Canary rollout of a gated candidate, with promotion through the gate or automatic rollback.

:func:`start` moves the registry alias ``canary`` to the candidate and opens a rollout (the
candidate must pass the gate: the gateway serves only gated versions); :func:`attach` gives a
running gateway its :class:`~cpmap.retrain.canary.Canary` route. :func:`decide` compares the
arms over the window: error rate and OOD rate (counts with Clopper-Pearson intervals: a
regression when the candidate's lower bound is above production's upper bound), mean
confidence, median latency, and accuracy on the golden set (the held-out split of the production
training data, scored on both models). Too few canary requests is "not estimable" and decides
nothing. No regression: :func:`promote` (``registry promote``, the gate judging production).
A regression, or a gate that refuses: rollback (production untouched, the canary closed) with
an alert. Every step is a signed ``retrain-rollout`` entry committed with the rollout row it
changes; the row is read back checked against those steps (:mod:`cpmap.retrain.signed_rows`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, insert, update

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.errors import Error, InputError
from cpmap.redteam.stats import clopper_pearson
from cpmap.retrain.canary import Arm, Canary, OodScore
from cpmap.retrain.predicates import RolloutStep
from cpmap.retrain.tables import retrain_rollouts

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace
    from cpmap.gateway.app import Gateway
    from cpmap.registry.manifest import ModelVersion

log = logging.getLogger("cpmap.retrain")
MIN_REQUESTS = 20


@dataclass(frozen=True)
class Decision:
    action: str  # "promote" | "rollback" | "wait"
    regressions: tuple[str, ...]
    comparison: dict[str, Any]
    alert: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "regressions": list(self.regressions),
                "comparison": self.comparison, "alert": self.alert}


def _row(ws: Workspace, name: str) -> Any:
    """The rollout row, checked against its signed steps (:mod:`cpmap.retrain.signed_rows`)."""
    from types import SimpleNamespace

    from cpmap.retrain.signed_rows import verified_rollout

    row = verified_rollout(ws, name)
    return None if row is None else SimpleNamespace(**row)


def _step(ws: Workspace, conn: Connection, name: str, cand: ModelVersion, prod: ModelVersion,
          action: str, share: float, d: Decision | None = None) -> Entry:
    """Record the signed step inside ``conn``, the transaction that changes its row."""
    bad = action in ("rollback", "abort")
    pred = RolloutStep(verdict=Verdict.FAIL if bad else Verdict.PASS, share=share, model=name,
                       candidate=cand.ref, production=prod.ref, action=action,
                       regressions=d.regressions if d else (),
                       comparison=d.comparison if d else {}, alert=d.alert if d else None,
                       highlights=(f"canary {cand.ref} vs {prod.ref}: {action}"
                                   + (f" ({'; '.join(d.regressions)})" if d and d.regressions
                                      else ""), *_compared(d)))
    return record(Evidence.of(pred, [Subject(f"model:{cand.ref}", cand.digest),
                                     Subject(f"model:{prod.ref}", prod.digest)]), ws, conn)


def check_candidate(ws: Workspace, cand: ModelVersion) -> int:
    """``cpmap gateway check`` of the candidate served on a private 127.0.0.1 port: the CP7
    evidence its promotion to production will need. The ledger index of the check."""
    from cpmap.gateway import build, run_in_thread
    from cpmap.gateway.check import run as run_check
    from cpmap.gateway.config import load

    running = run_in_thread(build(ws, cand.ref, load(ws, key_refresh_s=0.2)))
    try:
        result = run_check(ws, cand.name, running.url)
    finally:
        running.stop()
    if not result.passed:
        failed = [str(r.get("check")) for r in result.results if not r.get("ok")]
        raise InputError(f"{cand.ref}: gateway check #{result.entry} failed "
                         f"({', '.join(failed)}); no canary", hint=f"cpmap gate {cand.ref}")
    return -1 if result.entry is None else int(result.entry)


def _compared(d: Decision | None) -> tuple[str, ...]:
    """The canary comparison as report lines, one per arm."""
    if d is None or not d.comparison:
        return ()
    out = []
    for arm in ("candidate", "production"):
        a = d.comparison.get(arm) or {}
        err, ood = a.get("error_rate") or {}, a.get("ood_rate") or {}
        out.append(f"{arm}: {a.get('requests')} requests, errors {err.get('count')}, OOD "
                   f"{ood.get('count')}, mean confidence {a.get('mean_confidence')}, median "
                   f"latency {a.get('median_latency_s')} s, golden accuracy "
                   f"{a.get('golden_accuracy')}")
    return tuple(out)


def start(ws: Workspace, candidate: str, share: float | None = None, *,
          check: bool = True) -> dict[str, Any]:
    """Open a canary rollout of ``candidate`` (NAME@VERSION) against NAME's production;
    with ``check`` the candidate is attacked by ``gateway check`` first (CP7)."""
    from cpmap.gate.evaluate import evaluate
    from cpmap.registry.stages import set_alias
    from cpmap.registry.versions import get

    cand = get(ws, candidate)
    prod = get(ws, f"{cand.name}@production")
    share = float(share if share is not None else ws.setting("retraining", "canary_share", 0.2))
    if not 0 < share < 1:
        raise InputError(f"canary share {share}: must be between 0 and 1")
    if cand.version == prod.version:
        raise InputError(f"{cand.ref} is already production")
    if not evaluate(ws, cand).passed:
        raise InputError(f"{cand.ref}: the gate fails; a canary serves only gated versions",
                         hint=f"cpmap gate {cand.ref}")
    if check:
        check_candidate(ws, cand)
    set_alias(ws, cand.ref, "canary")
    open_rollout(ws, cand, prod, share)
    return status(ws, cand.name)


def open_rollout(ws: Workspace, cand: ModelVersion, prod: ModelVersion, share: float) -> int:
    """The signed ``start`` step and the rollout row it makes, in one transaction."""
    from cpmap.core.ledger import Ledger

    with ws.store.write() as conn:
        entry = _step(ws, conn, cand.name, cand, prod, "start", share)
        conn.execute(delete(retrain_rollouts).where(retrain_rollouts.c.model == cand.name))
        conn.execute(insert(retrain_rollouts).values(
            model=cand.name, candidate=cand.version, production=prod.version, share=share,
            status="canary", started_at=entry.created_at, stats="{}", entry=entry.index))
    Ledger(ws).witness(entry)
    return entry.index


def status(ws: Workspace, name: str) -> dict[str, Any]:
    row = _row(ws, name)
    if row is None:
        raise InputError(f"{name}: no rollout (start one with a gated retraining candidate)")
    stats = json.loads(row.stats or "{}")
    return {"model": name, "candidate": f"{name}@{row.candidate}",
            "production": f"{name}@{row.production}", "share": row.share,
            "status": row.status, "started_at": row.started_at,
            "requests": {k: int(v.get("requests", 0)) for k, v in stats.items()}}


def attach(gateway: Gateway, ws: Workspace) -> Canary | None:
    """Route the active rollout's share of clients to its candidate (None: no rollout)."""
    from cpmap.gateway.served import load

    row = _row(ws, gateway.served.name)
    if row is None or row.status != "canary":
        return None
    cand = load(ws, f"{row.model}@{row.candidate}")
    anchor = _golden(ws, cand.name, int(row.production))
    canary = Canary(ws, cand, float(row.share), OodScore.fit(anchor.x, anchor.y))
    gateway.canary = canary
    return canary


def _golden(ws: Workspace, name: str, version: int) -> Any:
    """The golden set: the held-out split of the production version's training data."""
    from cpmap.models.datasets import load_dataset
    from cpmap.registry.versions import get

    mv = get(ws, f"{name}@{version}")
    cfg = (mv.lineage.training or {}).get("config") or {}
    ds = load_dataset(f"sha256:{mv.lineage.datasets[0].digest}", ws, label=cfg.get("label"),
                      purpose=f"golden set of {name}")
    _, test = ds.split(float(cfg.get("test_size", 0.25)), int(cfg.get("seed", 0)))
    return test


def _accuracy(ws: Workspace, ref: str, golden: Any) -> float:
    from cpmap.gateway.served import load

    served = load(ws, ref, allow_ungated=True)
    return float((served.predict(golden.x).argmax(axis=1) == golden.y).mean())


def _arm_summary(a: Arm) -> dict[str, Any]:
    lat = np.asarray(a.latencies) if a.latencies else np.zeros(0)
    return {"requests": a.requests, "error_rate": clopper_pearson(a.errors, a.requests)
            .to_dict(), "ood_rate": clopper_pearson(a.ood, a.rows).to_dict(),
            "mean_confidence": round(a.confidence_sum / a.rows, 4) if a.rows else None,
            "median_latency_s": round(float(np.median(lat)), 6) if lat.size else None,
            "p95_latency_s": round(float(np.quantile(lat, 0.95)), 6) if lat.size else None}


def compare(ws: Workspace, name: str, canary: Canary | None = None) -> Decision:
    """Compare the arms (see the module doc) and say what to do."""
    row = _row(ws, name)
    if row is None or row.status != "canary":
        raise InputError(f"{name}: no canary rollout in progress")
    if canary is not None:
        canary.flush()
        row = _row(ws, name)
    stats = json.loads(row.stats or "{}")
    p, c = Arm.of(stats.get("production", {})), Arm.of(stats.get("candidate", {}))
    golden = _golden(ws, name, int(row.production))
    gp = _accuracy(ws, f"{name}@{row.production}", golden)
    gc = _accuracy(ws, f"{name}@{row.candidate}", golden)
    cmp = {"production": {**_arm_summary(p), "golden_accuracy": round(gp, 4)},
           "candidate": {**_arm_summary(c), "golden_accuracy": round(gc, 4)},
           "golden_rows": len(golden.y)}
    if c.requests < MIN_REQUESTS or p.requests < MIN_REQUESTS:
        return Decision("wait", (), {**cmp, "estimable": False,
                                     "note": f"not estimable: needs {MIN_REQUESTS} requests "
                                             "on each arm"})
    return Decision(*_verdict(ws, p, c, gp, gc), cmp)


def _verdict(ws: Workspace, p: Arm, c: Arm, gp: float, gc: float) -> tuple[str, tuple[str, ...]]:
    tol = float(ws.setting("retraining", "max_accuracy_drop", 0.02))
    out = []
    for what, (kc, nc, kp, np_) in {"error rate": (c.errors, c.requests, p.errors, p.requests),
                                    "OOD rate": (c.ood, c.rows, p.ood, p.rows)}.items():
        if clopper_pearson(kc, nc).lo > clopper_pearson(kp, np_).hi:
            out.append(f"{what} higher on the candidate ({kc}/{nc} vs {kp}/{np_})")
    if p.rows and c.rows and c.confidence_sum / c.rows < p.confidence_sum / p.rows - 0.05:
        out.append("mean confidence dropped by more than 0.05")
    slack = float(ws.setting("retraining", "max_latency_increase_s", 0.05))
    if p.latencies and c.latencies:  # medians: a p95 of a short window is mostly noise
        lp, lc = (float(np.median(a.latencies)) for a in (p, c))
        if lc > 2 * lp + slack:
            out.append(f"median latency {lc * 1000:.1f} ms vs {lp * 1000:.1f} ms")
    if gc < gp - tol:
        out.append(f"golden-set accuracy {gc:.3f} vs production {gp:.3f} (tolerance {tol:g})")
    return ("rollback" if out else "promote"), tuple(out)


def decide(ws: Workspace, name: str, canary: Canary | None = None) -> Decision:
    """Compare, then promote through the gate or roll back with an alert."""
    d = compare(ws, name, canary)
    if d.action == "wait":
        return d
    if d.action == "promote":
        try:
            return promote(ws, name, d)
        except Error as e:
            d = Decision("rollback", (f"the gate refused production: {e.message}",),
                         d.comparison)
    return rollback(ws, name, d)


def _versions(ws: Workspace, name: str) -> tuple[Any, ModelVersion, ModelVersion]:
    from cpmap.registry.versions import get

    row = _row(ws, name)
    if row is None or row.status != "canary":
        raise InputError(f"{name}: no canary rollout in progress")
    return row, get(ws, f"{name}@{row.candidate}"), get(ws, f"{name}@{row.production}")


def close_rollout(ws: Workspace, cand: ModelVersion, prod: ModelVersion, action: str,
                  share: float, d: Decision) -> int:
    """The signed closing step (promote, rollback, abort) and the row's new status, in one
    transaction; the row then names that step."""
    from cpmap.core.ledger import Ledger
    from cpmap.retrain.signed_rows import CLOSED

    with ws.store.write() as conn:
        entry = _step(ws, conn, cand.name, cand, prod, action, share, d)
        conn.execute(update(retrain_rollouts).where(retrain_rollouts.c.model == cand.name)
                     .values(status=CLOSED[action], entry=entry.index))
    Ledger(ws).witness(entry)
    return entry.index


def promote(ws: Workspace, name: str, d: Decision | None = None) -> Decision:
    """Promote the candidate to production through the gate (``registry promote``)."""
    from cpmap.registry.stages import promote as registry_promote

    row, cand, prod = _versions(ws, name)
    registry_promote(ws, cand.ref)
    d = d or Decision("promote", (), {})
    d = Decision("promote", d.regressions, d.comparison)
    close_rollout(ws, cand, prod, "promote", float(row.share), d)
    return d


def rollback(ws: Workspace, name: str, d: Decision) -> Decision:
    """Close the canary; production keeps serving. Alerts with the regressions."""
    row, cand, prod = _versions(ws, name)
    alert = (f"canary {cand.ref} rolled back, {prod.ref} stays in production: "
             + "; ".join(d.regressions))
    log.warning("%s", alert)
    d = Decision("rollback", d.regressions, d.comparison, alert)
    close_rollout(ws, cand, prod, "rollback", float(row.share), d)
    return d


def abort(ws: Workspace, name: str) -> Decision:
    row, cand, prod = _versions(ws, name)
    d = Decision("abort", ("aborted by an operator",), {},
                 f"canary {cand.ref} aborted; {prod.ref} stays in production")
    close_rollout(ws, cand, prod, "abort", float(row.share), d)
    return d
