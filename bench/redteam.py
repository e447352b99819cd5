"""CP5 benchmark: our membership inference against ART's MembershipInferenceBlackBox.

Same target, same split, same evaluation records, in one run:

* Target: the demo's deliberately overfit digits MLP (256 hidden units, full-batch Adam, 200
  epochs on 180 training images; ``cpmap.lifecycle.stages.cp5.OVERFIT``).
* Evaluation: 90 training images (members) and 900 held-out images (non-members); FPR is
  resolved to 1/900, so TPR at 0.1% FPR is not estimable (it needs 1,000 non-members) and is
  reported as such; TPR at 1% FPR is pooled over the seeds as a count with its
  Clopper-Pearson interval, AUC with the seeds' bootstrap intervals.
* ART's attack is supervised: it is given the other 90 members and 90 more non-members with
  their membership labels (a stronger attacker than ours) and trains its attack model
  (``nn`` and ``rf``) on the target's probabilities and the labels.
* Ours needs no membership labels: offline LiRA with 8 reference models trained on 600 other
  held-out images, and the loss-threshold baseline.

Then the full default campaign (``cpmap redteam run`` with no plan) on a standard digits MLP
trained by CP4 and on the overfit model: wall time per section.

Run: ``python -m bench redteam`` (needs the ``art`` extra). Writes docs/benchmarks/cp5.md.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import write_page

SEEDS = (0, 1, 2)


def _setup(seed: int) -> dict[str, Any]:
    from cpmap.builtin import digits
    from cpmap.lifecycle.stages.cp5 import OVERFIT
    from cpmap.redteam.shadow import train_mlp

    x, y = digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    train, held = order[:180], order[180:]
    model = train_mlp(x[train], y[train], 10, seed, OVERFIT)
    return {"x": x, "y": y, "model": model, "mem_eval": train[:90], "mem_art": train[90:],
            "non_art": held[:90], "non_eval": held[90:990], "pop": held[990:1590]}


def _scores_ours(s: dict[str, Any], ev_x: np.ndarray, ev_y: np.ndarray,
                 is_member: np.ndarray, seed: int) -> list[tuple[str, Any, float]]:
    from cpmap.lifecycle.stages.cp5 import OVERFIT
    from cpmap.redteam.membership import lira_offline, loss_threshold
    from cpmap.redteam.shadow import mlp_trainer
    from cpmap.redteam.target import Target

    target = Target("overfit", "0" * 64, s["model"].predict_proba, 10, (64,))
    pop = (s["x"][s["pop"]], s["y"][s["pop"]])
    out = []
    start = time.perf_counter()
    lira = lira_offline(target, ev_x, ev_y, is_member, pop, mlp_trainer(10, OVERFIT), 8, seed,
                        train_size=180)
    out.append(("cpmap LiRA offline (8 reference models)", lira.roc,
                time.perf_counter() - start))
    start = time.perf_counter()
    loss = loss_threshold(target, ev_x, ev_y, is_member)
    out.append(("cpmap loss threshold", loss.roc, time.perf_counter() - start))
    return out


def _scores_art(s: dict[str, Any], ev_x: np.ndarray, ev_y: np.ndarray,
                is_member: np.ndarray) -> list[tuple[str, Any, float]]:
    from art.attacks.inference.membership_inference import MembershipInferenceBlackBox
    from art.estimators.classification import PyTorchClassifier

    from cpmap.redteam.membership import roc

    clf = PyTorchClassifier(model=s["model"].module, loss=torch.nn.CrossEntropyLoss(),
                            input_shape=(64,), nb_classes=10, clip_values=(0.0, 1.0))
    x, y = s["x"], s["y"]
    out = []
    for kind in ("nn", "rf"):
        start = time.perf_counter()
        attack = MembershipInferenceBlackBox(clf, attack_model_type=kind)
        attack.fit(x[s["mem_art"]].astype(np.float32), y[s["mem_art"]],
                   x[s["non_art"]].astype(np.float32), y[s["non_art"]])
        scores = attack.infer(ev_x.astype(np.float32), ev_y, probabilities=True)
        scores = np.asarray(scores).reshape(len(ev_y), -1)[:, -1]
        out.append((f"ART MembershipInferenceBlackBox ({kind})", roc(scores, is_member),
                    time.perf_counter() - start))
    return out


def membership() -> str:
    from cpmap.redteam.stats import clopper_pearson, estimable

    rows: dict[str, list[tuple[float, float, float, int, int, float]]] = {}
    nonmembers = 0
    for seed in SEEDS:
        s = _setup(seed)
        x, y = s["x"], s["y"]
        ev = np.concatenate([s["mem_eval"], s["non_eval"]])
        is_member = np.r_[np.ones(len(s["mem_eval"]), bool), np.zeros(len(s["non_eval"]), bool)]
        nonmembers, members = len(s["non_eval"]), len(s["mem_eval"])
        torch.manual_seed(seed)
        for name, r, secs in [*_scores_ours(s, x[ev], y[ev], is_member, seed),
                              *_scores_art(s, x[ev], y[ev], is_member)]:
            k = int(round(r.tpr_at(0.01) * members))
            rows.setdefault(name, []).append((r.auc, *r.auc_ci, k, members, secs))
    at01 = "" if estimable(0.001, nonmembers) else \
        f"not estimable ({nonmembers} non-members; needs 1000)"
    lines = ["| attack | AUC (mean; mean 95% bootstrap CI) | TPR at 0.1% FPR | TPR at 1% FPR "
             "(pooled count, 95% CI) | seconds |", "|---|---|---|---|---|"]
    for name, vals in rows.items():
        a = np.asarray(vals, dtype=np.float64)
        m = a.mean(axis=0)
        rate = clopper_pearson(int(a[:, 3].sum()), int(a[:, 4].sum()))
        lines.append(f"| {name} | {m[0]:.3f} ({m[1]:.3f}-{m[2]:.3f}) | {at01} | {rate.text()} | "
                     f"{m[5]:.2f} |")
    return "\n".join(lines)


def campaigns() -> str:
    from cpmap.core.workspace import init
    from cpmap.lifecycle import Context
    from cpmap.lifecycle.stages.cp5 import OVERFIT, train_mlp
    from cpmap.models.datasets import load_dataset
    from cpmap.redteam.plan import Plan
    from cpmap.redteam.service import run_campaign
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.service import train_model

    lines = ["| model | " + " | ".join(("fuzzing", "evasion", "extraction", "membership",
                                        "inversion")) + " | total (s) | findings |",
             "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        ws = init(Path(tmp) / "proj")
        train_model(ws, "builtin:digits", TrainConfig(arch="mlp", epochs=10, lr=1e-2),
                    "digits_standard")
        ctx = Context(ws, Path(tmp), lambda _line: None)
        train_mlp(ctx, load_dataset("builtin:digits", ws), "digits_overfit", OVERFIT, "overfit")
        for name in ("digits_standard", "digits_overfit"):
            start = time.perf_counter()
            r = run_campaign(ws, name, "builtin:digits", plan=Plan())
            total = time.perf_counter() - start
            secs = " | ".join(f"{r.seconds.get(s, 0):.1f}" for s in
                              ("fuzzing", "evasion", "extraction", "membership", "inversion"))
            lines.append(f"| {name} | {secs} | {total:.1f} | "
                         f"{', '.join(f.rule_id for f in r.findings)} |")
    return "\n".join(lines)


def main() -> None:
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    mia = membership()
    camp = campaigns()
    load_after = os.getloadavg()[0]
    body = f"""
Machine shared with other engineers' jobs: 1-minute load average {load:.1f} at the start and
{load_after:.1f} at the end (2 cores), so wall times are upper bounds. One torch thread.

## Membership inference on the same target and split (mean of seeds {', '.join(map(str, SEEDS))})

Target: the demo's overfit MLP (180 training images). Evaluation: 90 members, 900
non-members. ART's attack is trained with 90 known members and 90 known non-members; ours uses
no membership labels (LiRA's reference models train on 600 other held-out images).

{mia}

## Full default campaign (`cpmap redteam run`, no plan), seconds per section

{camp}
"""
    write_page("cp5", "CP5 benchmarks: membership inference vs ART, campaign wall time", body,
               "redteam")


if __name__ == "__main__":
    main()
