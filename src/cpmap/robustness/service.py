"""CP4 against the workspace: train and store a model, evaluate one, record signed evidence.

Training reads its data through CP1 (verified, access recorded), spends DP budget through CP2
before DP-SGD starts, stores the model content-addressed with its training record, and records
``model-training`` evidence naming the model and dataset digests. Evaluation records
``robustness-evaluation`` evidence with the curve plot and any gradient-masking findings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.predicate import Plot
from cpmap.core.refs import Ref
from cpmap.core.tags import Atlas, OwaspML
from cpmap.models.datasets import Dataset, load_dataset
from cpmap.models.protocol import Model, accuracy, has_gradients
from cpmap.models.store import StoredModel, get_model, load_version, save_model
from cpmap.robustness.config import TrainConfig
from cpmap.robustness.evaluate import AttackSettings, Evaluation, check_attacks, evaluate
from cpmap.robustness.plots import curves
from cpmap.robustness.predicates import (
    AttackRow,
    AttackStrength,
    ModelTraining,
    RobustnessEvaluation,
)
from cpmap.robustness.training import EpochHook, TrainOutcome, train

if TYPE_CHECKING:
    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace

TAGS = (Atlas.T0043, OwaspML.ML01)


def set_threads(ws: Workspace | None) -> None:
    """Use ``[robustness] threads`` torch threads (default 1).

    The models here are small: on a 2-core machine shared with other work, one thread was
    30-250x faster than two for an MLP/CNN step on digits (threads spin waiting on each
    other), so more threads only help for large models on idle machines.
    """
    import torch

    n = int(setting_number(ws, "threads", 1, 1, 1024)) if ws is not None else 1
    torch.set_num_threads(n)


def setting_number(ws: Workspace, key: str, default: float, lo: float, hi: float) -> float:
    """A ``[robustness]`` number (TOML or CPMAP_ROBUSTNESS_*), checked: bad config is bad input."""
    import math

    from cpmap.errors import InputError

    raw = ws.setting("robustness", key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(raw, bool) or not (math.isfinite(value) and lo <= value <= hi):
        raise InputError(f"{ws.dir / 'cpmap.toml'}: [robustness] {key} = {raw!r}: "
                         f"must be a number in {lo:g}..{hi:g}")
    return value


@dataclass(frozen=True)
class Trained:
    version: StoredModel
    metrics: dict[str, Any]
    outcome: TrainOutcome
    findings: tuple[Finding, ...] = ()


def quick_robustness(model: Model, ds: Dataset, eps: float, seed: int,
                     rows: int = 500) -> float:
    """Robust accuracy after training: PGD-10 on up to ``rows`` rows (torch models), or a
    100-query Square attack on half as many (others: every query is a full model call)."""
    gradients = has_gradients(model)
    idx = np.random.default_rng(seed).permutation(len(ds.y))[:rows if gradients else rows // 2]
    attack = "pgd" if gradients else "square"
    s = AttackSettings(seed=seed, box=ds.bounds, image_shape=ds.image_shape, square_iters=100)
    ev = evaluate(model, ds.x[idx], ds.y[idx], [eps], [attack], s, checks=False)
    return ev.results[0].robust_accuracy


def _check_budget(ws: Workspace, ds: Dataset, cfg: TrainConfig) -> None:
    """Fail before training when the target epsilon cannot fit the dataset's budget."""
    from cpmap.privacy.budget import BudgetExceeded, status

    assert cfg.dp_epsilon is not None  # noqa: S101 - caller checked
    st = status(ws, Ref.parse(ds.ref, "dataset").name)
    if cfg.dp_epsilon > st.remaining + 1e-9 or cfg.dp_delta > st.remaining_delta * (1 + 1e-9):
        raise BudgetExceeded(f"{ds.ref}: DP-SGD at epsilon {cfg.dp_epsilon:g}, delta "
                             f"{cfg.dp_delta:g} does not fit the {st.remaining:g} epsilon / "
                             f"{st.remaining_delta:g} delta left in its privacy budget",
                             hint="lower --dp-epsilon or raise [privacy.budgets]")


def _spend_budget(ws: Workspace, ds: Dataset, dp: dict[str, Any], name: str) -> int:
    """Spend what training actually used, before the model is stored (released).

    The spend is atomic and re-checks the budget, so two trainings racing for the last of a
    budget cannot both store their models.
    """
    from cpmap.privacy.budget import spend

    s = spend(ws, Ref.parse(ds.ref, "dataset").name, float(dp["epsilon"]),
              f"DP-SGD training of model {name}", float(dp["delta"]), digest=ds.digest,
              details={"mechanism": dp["mechanism"], "model": name,
                       "noise_multiplier": dp["noise_multiplier"],
                       "max_grad_norm": dp["max_grad_norm"], "randomness": dp["randomness"],
                       "unsafe_reproducible_dp": dp["unsafe_reproducible_dp"]})
    return s.entry


def train_model(ws: Workspace, data: str, cfg: TrainConfig, name: str,
                on_epoch: EpochHook | None = None) -> Trained:
    """Train ``cfg`` on ``data``'s training split, store the model, record CP4 evidence."""
    set_threads(ws)
    ds = load_dataset(data, ws, label=cfg.label, purpose=f"training model {name}")
    train_ds, test_ds = ds.split(cfg.test_size, cfg.seed)
    subjects = [Subject(ds.ref, ds.digest)]
    teacher = None
    if cfg.distill_from:
        tv = get_model(ws, cfg.distill_from)
        teacher = load_version(ws, tv)
        subjects.append(Subject(tv.ref, tv.digest))
    if cfg.dp_epsilon is not None:
        _check_budget(ws, ds, cfg)
    outcome = train(train_ds, cfg, teacher, on_epoch)
    spend_entry = _spend_budget(ws, ds, outcome.dp, name) if outcome.dp else None
    metrics: dict[str, Any] = {
        "clean_accuracy": round(accuracy(outcome.model, test_ds.x, test_ds.y), 5),
        f"robust_accuracy@{cfg.eval_eps:g}": round(
            quick_robustness(outcome.model, test_ds, cfg.eval_eps, cfg.seed), 5),
        "train_seconds": round(outcome.seconds, 3),
        "seconds_per_epoch": round(outcome.seconds / (cfg.epochs if cfg.is_torch else 1), 4),
        "train_rows": len(train_ds.y), "test_rows": len(test_ds.y),
    }
    if outcome.dp:
        metrics["dp_epsilon"] = outcome.dp["epsilon"]
    rec = {"datasets": [{"ref": ds.ref, "digest": ds.digest, "role": "train",
                         "split": {"test_size": cfg.test_size, "seed": cfg.seed}}],
           "config": cfg.to_dict(), "seed": cfg.seed, "metrics": metrics,
           "history": list(outcome.history), "dp": outcome.dp, "trainer": "cpmap",
           "types_reviewed": True, "teacher": cfg.distill_from,
           "privacy_spend_entry": spend_entry}
    from cpmap.models.protocol import predict
    from cpmap.robustness.degenerate import degenerate_findings

    collapsed = degenerate_findings(predict(outcome.model, test_ds.x), test_ds.y, name)
    how = cfg.adversarial.upper() + " adversarial" if cfg.adversarial else (
        "distilled" if cfg.distill_from else ("DP-SGD" if cfg.dp_epsilon else "standard"))
    line = (f"{name}: {how} {cfg.arch} on {ds.ref}: clean {metrics['clean_accuracy']:.3f}, "
            f"quick robust@{cfg.eval_eps:g} ({'PGD-10' if cfg.is_torch else 'Square-100'}) "
            f"{metrics[f'robust_accuracy@{cfg.eval_eps:g}']:.3f}; the ensemble's worst case is "
            "lower: cpmap robustness evaluate")
    pred = ModelTraining(
        verdict=Verdict.WARN if collapsed else Verdict.PASS,
        highlights=(line, *_dp_lines(outcome)),
        findings=tuple(collapsed), clean_accuracy=metrics["clean_accuracy"],
        robust_accuracy={f"{cfg.eval_eps:g}": metrics[f"robust_accuracy@{cfg.eval_eps:g}"]},
        train_seconds=metrics["train_seconds"], seconds_per_epoch=metrics["seconds_per_epoch"],
        train_rows=metrics["train_rows"], test_rows=metrics["test_rows"],
        dp_epsilon=metrics.get("dp_epsilon"), config=cfg.to_dict(), dp=outcome.dp,
        non_private=outcome.non_private,
        unsafe_reproducible_dp=bool(outcome.dp.get("unsafe_reproducible_dp", False)))
    mv = save_model(ws, name, outcome.model, rec, pred, subjects)
    return Trained(mv, metrics, outcome, tuple(collapsed))


def _dp_lines(outcome: TrainOutcome) -> tuple[str, ...]:
    """What a DP-SGD model's evidence must say next to its figures."""
    lines = []
    if outcome.non_private:
        lines.append("non-private (computed on the private rows without noise, outside the DP "
                     "guarantee; never release them): " + ", ".join(outcome.non_private))
    if outcome.dp.get("unsafe_reproducible_dp"):
        lines.append("UNSAFE: DP-SGD noise and sampling were drawn from the recorded seed "
                     "(--unsafe-reproducible-dp); the DP guarantee does not hold")
    return tuple(lines)


@dataclass(frozen=True)
class Evaluated:
    evaluation: Evaluation
    model: str
    model_digest: str
    dataset: Dataset
    entry: Entry | None
    plan: str = ""


def _resolve_model(ws: Workspace, ref: str) -> tuple[Model, str, str, dict[str, Any]]:
    """(model, name, digest, training record) for a store ref or a model file."""
    from pathlib import Path

    from cpmap.models import load

    p = Path(ref)
    if p.is_file():
        return load(p, ws), p.name, hashlib.sha256(p.read_bytes()).hexdigest(), {}
    from cpmap.registry.intake import resolve_model

    mv = resolve_model(ws, ref)
    return load_version(ws, mv), mv.ref, mv.digest, dict(mv.record)


def _remote(ws: Workspace, url: str, data: str, label: str | None
            ) -> tuple[Model, str, str, dict[str, Any], Dataset]:
    """A black-box endpoint, sized by the data sent to it; named by the digest of its URL.

    The endpoint must take rows exactly as the dataset reference produces them (for tables:
    scaled and one-hot encoded) and answer in the data's class order.
    """
    from cpmap.models.remote import RemoteModel

    probe = RemoteModel(url, 1, 1)
    probe.preflight()  # unreachable: bad input before any dataset access is recorded
    shown = probe.shown  # no password in messages, the ledger or the model's name
    ds = load_dataset(data, ws, label=label, purpose=f"robustness evaluation of {shown}")
    model = RemoteModel(url, ds.n_classes, ds.input_dim)
    return model, shown, hashlib.sha256(shown.encode()).hexdigest(), {}, ds


def eval_rows(ds: Dataset, rec: dict[str, Any], samples: int, seed: int) -> Dataset:
    """The training run's held-out split when ``ds`` is its training data; then subsample."""
    for d in rec.get("datasets", []):
        if d.get("digest") == ds.digest and d.get("split"):
            ds = ds.split(float(d["split"]["test_size"]), int(d["split"]["seed"]))[1]
            break
    if samples and len(ds.y) > samples:
        ds = ds.subset(np.sort(np.random.default_rng(seed).permutation(len(ds.y))[:samples]))
    return ds


def evaluate_model(ws: Workspace, model_ref: str, data: str, eps: Sequence[float],
                   attacks: Sequence[str] | None = None, *, samples: int = 500, seed: int = 0,
                   settings: AttackSettings | None = None, label: str | None = None,
                   on_step: Callable[[str], None] | None = None,
                   save: bool = True) -> Evaluated:
    """Evaluate a stored model (or model file) on ``data``; record evidence if ``save``."""
    from dataclasses import replace

    from cpmap.models.protocol import predict
    from cpmap.robustness.degenerate import degenerate_findings
    from cpmap.robustness.selection import plan

    set_threads(ws)
    if model_ref.startswith(("http://", "https://")):
        if attacks:  # validated before the data is read: a bad name records nothing
            from cpmap.models.remote import RemoteModel

            check_attacks(RemoteModel(model_ref, 1, 1), attacks)
        model, name, digest, rec, ds = _remote(ws, model_ref, data, label)
    else:
        model, name, digest, rec = _resolve_model(ws, model_ref)
        if attacks:
            check_attacks(model, attacks)
        meta = dict(rec.get("meta") or getattr(model, "meta", {}) or {})
        ds = load_dataset(data, ws, label=label, purpose=f"robustness evaluation of {name}",
                          like=meta)
    rows = eval_rows(ds, rec, samples, seed)
    s = replace(settings or AttackSettings(), seed=seed, box=ds.bounds,
                image_shape=ds.image_shape)
    chosen = plan(model, attacks)
    ev = evaluate(model, rows.x, rows.y, eps, chosen.attacks, s, on_step=on_step)
    found = degenerate_findings(predict(model, rows.x), rows.y, name)
    ev = replace(ev, findings=(*found, *ev.findings, *policy_findings(ws, ev)))
    entry = record_evaluation(ws, name, digest, ds, ev, chosen.statement) if save else None
    return Evaluated(ev, name, digest, ds, entry, chosen.statement)


def policy_findings(ws: Workspace, ev: Evaluation) -> list[Finding]:
    """``[robustness] min_robust_accuracy`` at ``policy_eps`` (default 0.1), if configured."""
    if ws.setting("robustness", "min_robust_accuracy", None) is None:
        return []
    floor = setting_number(ws, "min_robust_accuracy", 0.0, 0.0, 1.0)
    eps = setting_number(ws, "policy_eps", 0.1, 1e-12, 1e6)
    got = ev.robust_at(eps)
    if got is None or got >= float(floor):
        return []
    return [Finding("CP4-LOW-ROBUSTNESS", Severity.HIGH,
                    f"robust accuracy {got:.3f} at eps {eps:g} is below the policy minimum "
                    f"{float(floor):g}", Location("model"),
                    "Retrain with PGD or TRADES adversarial training (cpmap train "
                    "--adversarial pgd) and re-evaluate.", TAGS,
                    {"eps": eps, "robust_accuracy": got})]


def evaluation_predicate(ev: Evaluation, name: str, dataset: str, verdict: Verdict,
                         plots: Sequence[Plot] = (), highlights: Sequence[str] = ()
                         ) -> RobustnessEvaluation:
    """The CP4 evidence of an evaluation: per attack and eps, and the worst case per eps."""
    per_attack: dict[str, dict[str, float]] = {}
    for r in ev.results:
        per_attack.setdefault(r.attack, {})[f"{r.eps:g}"] = round(r.robust_accuracy, 5)
    worst = {f"{e:g}": round(w, 5) for e in sorted({r.eps for r in ev.results})
             if (w := ev.robust_at(e)) is not None}
    per_row = {f"{e:g}": round(w, 5) for e, w in ev.worst_case}
    s = ev.settings
    return RobustnessEvaluation(
        verdict=verdict, findings=tuple(ev.findings), highlights=tuple(highlights),
        plots=tuple(plots), clean_accuracy=round(ev.clean_accuracy, 5), samples=ev.samples,
        robust_accuracy=worst, worst_case=per_row, model=name, dataset=dataset,
        results=tuple(AttackRow(r.attack, r.eps, round(r.robust_accuracy, 6), r.queries)
                      for r in ev.results),
        settings=AttackStrength(s.steps, s.restarts, s.apgd_steps, s.square_iters, s.seed,
                                s.apgd_targets, s.fab_steps),
        fgsm=per_attack.get("fgsm", {}), pgd=per_attack.get("pgd", {}),
        pgd_l2=per_attack.get("pgd-l2", {}), apgd=per_attack.get("apgd", {}),
        apgd_t=per_attack.get("apgd-t", {}), fab_t=per_attack.get("fab-t", {}),
        margin=per_attack.get("margin", {}),
        square=per_attack.get("square", {}), hsj=per_attack.get("hsj", {}))


def record_evaluation(ws: Workspace, name: str, digest: str, ds: Dataset,
                      ev: Evaluation, statement: str = "") -> Entry:
    failing = ("CP4-LOW-ROBUSTNESS", "CP4-DEGENERATE-MODEL")
    verdict = (Verdict.FAIL if any(f.rule_id in failing for f in ev.findings)
               else Verdict.WARN if ev.findings else Verdict.PASS)
    plot = curves(ws, {name: ev}, f"{name} on {ds.ref}: accuracy under attack")
    worst = {e: ev.robust_at(e) for e in sorted({r.eps for r in ev.results})}
    line = f"{name}: clean {ev.clean_accuracy:.3f}; per-example worst case " + ", ".join(
        f"{v:.3f}@{e:g}" for e, v in worst.items() if v is not None)
    lines = [line, statement] if statement else [line]
    from cpmap.robustness.runner import shortfall

    weaker = shortfall(ev.settings, [r.attack for r in ev.results])
    if weaker:
        lines.append(weaker)
    pred = evaluation_predicate(ev, name, ds.ref, verdict, [Plot.of(plot)], lines)
    return record(Evidence.of(pred, [Subject(name, digest), Subject(ds.ref, ds.digest)]), ws)


def accept_masking(ws: Workspace, model_ref: str, rule_id: str, reason: str, *,
                   eps: float | None = None, evaluation: int | None = None,
                   by: str = "") -> Entry:
    """Record a person's acceptance of a gradient-masking finding on a stored model.

    The CP4 gate requirement fails on a CP4-MASK-* finding until this exists: the reason is
    part of the signed evidence, so a release that ships with masked gradients says why.
    """
    from cpmap.errors import InputError
    from cpmap.robustness.predicates import MaskingAcceptance

    if not rule_id.startswith("CP4-MASK-"):
        raise InputError(f"{rule_id}: not a gradient-masking rule (CP4-MASK-...)")
    if not reason.strip():
        raise InputError(f"{rule_id}: an acceptance needs a reason")
    mv = get_model(ws, model_ref)
    pred = MaskingAcceptance(
        verdict=Verdict.INFO, highlights=(f"{mv.ref}: {rule_id} accepted: {reason.strip()}",),
        rule_id=rule_id, eps=eps, evaluation=evaluation, reason=reason.strip(),
        accepted_by=by)
    return record(Evidence.of(pred, [Subject(mv.ref, mv.digest)]), ws)
