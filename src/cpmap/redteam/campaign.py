"""A campaign: run a plan's attacks against one target and collect findings and metrics.

:func:`run` does the attacking and returns a :class:`CampaignResult` (the JSON the CLI prints);
:func:`record` signs it as CP5 evidence (subject: the model digest) and updates the tracked
findings in the same store transaction. Each section gets its own seed derived from the plan
seed, so a finding's reproduction replays that section alone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.core.findings import Finding, Severity
from cpmap.redteam import assess
from cpmap.redteam.plan import SECTIONS, SEED_OFFSET, Plan
from cpmap.redteam.shadow import MLPConfig, Trainer, mlp_trainer
from cpmap.redteam.target import Target

if TYPE_CHECKING:
    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace
    from cpmap.redteam.tracking import Transition

@dataclass(frozen=True)
class CampaignData:
    """Who holds what. ``evaluation`` and ``pool`` are data the model did not train on."""

    evaluation: tuple[np.ndarray, np.ndarray]
    pool: np.ndarray
    members: tuple[np.ndarray, np.ndarray] | None = None
    nonmembers: tuple[np.ndarray, np.ndarray] | None = None
    population: tuple[np.ndarray, np.ndarray] | None = None
    note: str = ""


def split_data(heldout: tuple[np.ndarray, np.ndarray],
               members: tuple[np.ndarray, np.ndarray] | None = None,
               seed: int = 0) -> CampaignData:
    """Split held-out data (and the training rows, when known) into the campaign's roles.

    Held-out rows go to the attacker's population (also the extraction pool: about twice the
    training set, at most half the rows) and the non-members (also the evaluation set: the
    rest). Without the model's training rows, the rows are halved and membership inference
    cannot be scored and is skipped.
    """
    x, y = heldout
    order = np.random.default_rng(seed).permutation(len(x))
    half = len(order) // 2
    if members is None:
        ev, pop = order[:half], order[half:]
        return CampaignData((x[ev], y[ev]), x[pop], note="training rows unknown")
    # the attacker's population needs about twice the training set (references on random
    # halves); every other held-out row is a non-member, so low FPRs become estimable
    cut = min(half, max(2 * len(members[1]), MIN_POPULATION))
    pop, ev = order[:cut], order[cut:]
    return CampaignData((x[ev], y[ev]), x[pop], members, (x[ev], y[ev]), (x[pop], y[pop]),
                        note="training rows from the model record")


MIN_POPULATION = 100


@dataclass
class CampaignResult:
    model: str
    digest: str
    plan: Plan
    findings: list[Finding] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)  # results for plots
    campaign_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    transitions: list[Transition] = field(default_factory=list)
    entry: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"findings": [f.to_dict() for f in self.findings],
                "metrics": {s: self.metrics.get(s, {"skipped": "not in plan"})
                            for s in SECTIONS}}

    @property
    def worst(self) -> Severity | None:
        from cpmap.core.findings import max_severity

        return max_severity(self.findings)


def _membership(target: Target, data: CampaignData, plan: Plan, trainer: Trainer,
                seed: int, result: CampaignResult) -> dict[str, Any]:
    from cpmap.redteam.membership import lira_offline, loss_threshold

    cfg = plan.membership
    if data.members is None or data.nonmembers is None or data.population is None or \
            not len(data.members[1]) or not len(data.nonmembers[1]):
        return {"auc": None, "tpr_at_0.1pct_fpr": None, "tpr_at_1pct_fpr": None,
                "skipped": f"{data.note}: members and non-members are needed"}
    rng = np.random.default_rng(seed)
    # members up to half the records, non-members the rest: the non-members decide which
    # FPRs can be resolved, so they get every record the members leave
    mi = rng.permutation(len(data.members[0]))[:max(1, cfg.max_records // 2)]
    ni = rng.permutation(len(data.nonmembers[0]))[:max(1, cfg.max_records - len(mi))]
    x = np.concatenate([data.members[0][mi], data.nonmembers[0][ni]])
    y = np.concatenate([data.members[1][mi], data.nonmembers[1][ni]])
    is_member = np.r_[np.ones(len(mi), bool), np.zeros(len(ni), bool)]
    runs = []
    if "lira" in cfg.attacks:
        runs.append(lira_offline(target, x, y, is_member, data.population, trainer,
                                 cfg.reference_models, seed,
                                 train_size=len(data.members[0])))
    if "loss" in cfg.attacks:
        runs.append(loss_threshold(target, x, y, is_member))
    result.artifacts["membership"] = runs
    result.findings += assess.membership(result.model, result.digest, runs, plan)
    best = max(runs, key=lambda r: (r.tpr_at_0_1pct or 0.0, r.tpr_at_1pct or 0.0, r.auc))
    d = best.to_dict()
    return {**{k: v for k, v in d.items() if k in HEADLINE},
            "auc_lower": d["auc_ci95"][0], "auc_upper": d["auc_ci95"][1],
            "warnings": sorted({w for r in runs for w in r.warnings}),
            "attacks": [r.to_dict() for r in runs]}


HEADLINE = ("auc", "tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr_upper",
            "tpr_at_1pct_fpr_upper", "attack", "members", "nonmembers", "lowest_fpr")


def _section(name: str, target: Target, data: CampaignData, plan: Plan, trainer: Trainer,
             result: CampaignResult) -> dict[str, Any]:
    seed = plan.seed + SEED_OFFSET[name]
    m, d = result.model, result.digest
    if name == "fuzzing":
        from cpmap.redteam.fuzzing import fuzz, local_caller

        cfg = plan.fuzzing
        caller = result.artifacts.get("caller") or local_caller(
            target.predict_proba, target.n_classes, cfg.timeout_s)
        report = fuzz(caller, target.input_shape, target.bounds, cfg.probes, cfg.examples, seed,
                      cfg.timeout_s)
        result.findings += assess.fuzzing(m, d, report, plan)
        return {**report.metrics(), "results": [r.to_dict() for r in report.results]}
    if name == "evasion":
        from cpmap.redteam.evasion import evade

        cfg_e = plan.evasion
        ev = evade(target, *data.evaluation, eps=cfg_e.eps, samples=cfg_e.samples,
                   white_box=cfg_e.white_box, black_box=cfg_e.black_box, steps=cfg_e.steps,
                   square_iters=cfg_e.square_iters, hsj_iterations=cfg_e.hsj_iterations,
                   seed=seed)
        result.findings += assess.evasion(m, d, ev, plan)
        return ev.to_dict()
    if name == "extraction":
        from cpmap.redteam.extraction import extract

        cfg_x = plan.extraction
        ex = extract(target, data.pool, data.evaluation, cfg_x.budgets, cfg_x.outputs,
                     cfg_x.decimals, seed)
        result.artifacts["extraction"] = ex
        result.findings += assess.extraction(m, d, ex, plan)
        return ex.to_dict()
    if name == "membership":
        return _membership(target, data, plan, trainer, seed, result)
    from cpmap.redteam.inversion import invert

    inv = invert(target, data.evaluation, steps=plan.inversion.steps, seed=seed)
    result.artifacts["inversion"] = inv
    result.findings += assess.inversion(m, d, inv, plan)
    return inv.to_dict()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch threads, then restore.

    The attacks train and query many tiny models; on a shared 2-core machine extra intra-op
    threads only spin against other processes (measured 5x slower under load), so campaigns
    default to one thread (setting ``[redteam] threads``).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(target: Target, data: CampaignData, plan: Plan, trainer: Trainer | None = None,
        on_section: Callable[[str], None] | None = None,
        caller: Callable[..., Any] | None = None, threads: int = 1) -> CampaignResult:
    """Run every enabled section of ``plan`` against ``target``.

    ``trainer`` builds membership reference models (default: a small MLP); ``caller`` replaces
    the in-process fuzzing caller (an HTTP endpoint's).
    """
    with torch_threads(threads):
        return _run(target, data, plan, trainer, on_section, caller)


def _run(target: Target, data: CampaignData, plan: Plan, trainer: Trainer | None,
         on_section: Callable[[str], None] | None,
         caller: Callable[..., Any] | None) -> CampaignResult:
    result = CampaignResult(target.name, target.digest, plan)
    if caller is not None:
        result.artifacts["caller"] = caller
    fit = trainer or mlp_trainer(target.n_classes, MLPConfig(hidden=128, epochs=200))
    for name in plan.sections():
        if on_section is not None:
            on_section(name)
        start = time.perf_counter()
        before = target.queries
        metrics = _section(name, target, data, plan, fit, result)
        result.seconds[name] = round(time.perf_counter() - start, 3)
        metrics.setdefault("queries", target.queries - before)
        result.metrics[name] = {**metrics, "seconds": result.seconds[name]}
    result.artifacts.pop("caller", None)
    result.findings.sort(key=lambda f: (-f.severity.rank, f.rule_id))
    return result


def record(ws: Workspace, result: CampaignResult, image_shape: tuple[int, int] | None = None,
           extra_details: dict[str, Any] | None = None) -> Entry:
    """Sign the campaign as CP5 evidence and reconcile tracked findings, atomically."""
    from cpmap.core.evidence import Evidence, Subject
    from cpmap.core.evidence import record as record_evidence
    from cpmap.core.ledger import Ledger
    from cpmap.redteam import tracking
    from cpmap.redteam.predicates import RedteamCampaign
    from cpmap.redteam.report import details, verdict
    from cpmap.redteam.signed_rows import check_in

    plots = _plots(ws, result, image_shape)
    with ws.store.write() as conn:
        check_in(ws, conn)  # statuses as the signed log says, before they are signed again
        result.transitions = tracking.reconcile(conn, result.model, result.digest,
                                                list(result.metrics), result.findings,
                                                result.campaign_id)
        status = tracking.statuses(conn, [str(f.properties["id"]) for f in result.findings])
        result.findings = [_with_status(f, status) for f in result.findings]
        campaign = RedteamCampaign.strict(
            verdict(result.findings, status), _scalars(result), result.findings,
            {**details(result, status, plots), **(extra_details or {})})
        ev = Evidence.of(campaign, [Subject(result.model, result.digest)])
        entry = record_evidence(ev, ws, conn)
        tracking.set_entry(conn, result.campaign_id, entry.index)
    Ledger(ws).witness(entry)
    result.entry = entry.index
    return entry


def _with_status(f: Finding, status: dict[str, str]) -> Finding:
    from dataclasses import replace

    return replace(f, properties={**f.properties,
                                  "status": status.get(str(f.properties["id"]), "open")})


def _scalars(result: CampaignResult) -> dict[str, Any]:
    """The flat numbers the report's metric table shows."""
    out: dict[str, Any] = {"findings": len(result.findings)}
    keys = {"fuzzing": ("failing_probes",), "evasion": ("white_box_success_rate",
                                                        "black_box_success_rate"),
            "extraction": ("fidelity_probabilities", "fidelity_label",
                           "fidelity_probabilities_lower", "fidelity_probabilities_upper",
                           "fidelity_data_free", "eval_rows"),
            "membership": ("auc", "tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr",
                           "tpr_at_0.1pct_fpr_upper", "tpr_at_1pct_fpr_upper", "auc_lower",
                           "auc_upper", "members", "nonmembers", "lowest_fpr"),
            "inversion": ("identification_rate",)}
    for section, names in keys.items():
        for k in names:
            v = result.metrics.get(section, {}).get(k)
            if isinstance(v, int | float):
                out[f"{section}.{k}"] = v
    return out


def _plots(ws: Workspace, result: CampaignResult,
           image_shape: tuple[int, int] | None) -> list[dict[str, str]]:
    from cpmap.redteam import plots

    out = []
    runs = result.artifacts.get("membership")
    if runs:
        out.append(plots.save(ws, plots.roc_figure([(r.attack, r) for r in runs]),
                              f"{result.model}: membership inference ROC (log-log)"))
    inv = result.artifacts.get("inversion")
    if inv is not None and image_shape is not None:
        out.append(plots.save(ws, plots.inversion_figure(inv, image_shape),
                              f"{result.model}: model inversion"))
    ex = result.artifacts.get("extraction")
    if ex is not None:
        out.append(plots.save(ws, plots.extraction_figure(ex),
                              f"{result.model}: extraction fidelity vs budget"))
    return out
