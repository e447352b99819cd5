"""CP4 benchmark: cpmap's plain-PyTorch PGD and PGD adversarial training against ART.

Same model architecture and initial weights, same data (scikit-learn digits), same eps, steps
and step size, same thread count (1: see cpmap.robustness.service.set_threads), in one run:

* PGD-10 (L-inf, eps 0.1, step 0.01, no random start) on 1,000 digits against ART's
  ProjectedGradientDescent (batch size 512 for both): wall time and max |difference| of the
  adversarial examples.
* PGD adversarial training (Madry: eps 0.1, 7 steps of 2.5*eps/7, one random start, Adam
  lr 3e-3, batch 64) against ART's AdversarialTrainerMadryPGD: seconds per epoch, then clean and
  robust accuracy (cpmap PGD-10 with random start, eps 0.1) of both models on the held-out
  split.

Run: ``python -m bench robustness`` (needs the ``art`` extra). Writes docs/benchmarks/cp4.md.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import torch

from bench.common import write_page

EPS, STEP, STEPS = 0.1, 0.01, 10
AT_EPOCHS, AT_STEPS, AT_LR, AT_BATCH = 15, 7, 3e-3, 64
SEEDS = (0, 1, 2)


def _data() -> tuple[Any, Any]:
    from cpmap.builtin import digits
    from cpmap.models.datasets import Dataset

    x, y = digits()
    ds = Dataset("digits", "0" * 64, x, y, tuple(str(i) for i in range(10)), image_shape=(1, 8, 8))
    return ds.split(0.25, 0)


def _net(seed: int) -> Any:
    from cpmap.models.archs import ArchSpec, build

    torch.manual_seed(seed)
    return build(ArchSpec("mlp", 64, 10, (128,)))


def _art(net: Any, lr: float = AT_LR) -> Any:
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=net, loss=torch.nn.CrossEntropyLoss(),
                             optimizer=torch.optim.Adam(net.parameters(), lr=lr),
                             input_shape=(64,), nb_classes=10, clip_values=(0.0, 1.0))


def _median(fn: Any, repeat: int = 7) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def bench_pgd() -> dict[str, Any]:
    from art.attacks.evasion import ProjectedGradientDescent

    from cpmap.models.adapters import TorchModel
    from cpmap.robustness.attacks import pgd
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.training import train

    tr, _te = _data()
    model = train(tr, TrainConfig(arch="mlp", hidden=(128,), epochs=10, lr=AT_LR)).model
    assert isinstance(model, TorchModel)
    from cpmap.builtin import digits

    x, y = digits()
    x, y = x[:1000], y[:1000]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def ours() -> np.ndarray:
        return np.concatenate([pgd(model.logits, xt[i:i + 512], yt[i:i + 512], EPS,
                                   steps=STEPS, alpha=STEP, random_start=False).numpy()
                               for i in range(0, 1000, 512)])

    def art(batch: int) -> Any:
        return ProjectedGradientDescent(_art(model.net), norm=np.inf, eps=EPS, eps_step=STEP,
                                        max_iter=STEPS, num_random_init=0, batch_size=batch,
                                        verbose=False)

    t_ours, a = _median(ours)
    t_art, b = _median(lambda: art(512).generate(x, y=y))
    t_art32, _c = _median(lambda: art(32).generate(x, y=y), repeat=3)
    return {"ours": t_ours, "art": t_art, "art32": t_art32,
            "max_diff": float(np.abs(a - b).max()),
            "same_pred": float((model.predict_proba(a).argmax(1) ==
                                model.predict_proba(b).argmax(1)).mean()),
            "robust_ours": float((model.predict_proba(a).argmax(1) == y).mean()),
            "robust_art": float((model.predict_proba(b).argmax(1) == y).mean())}


def _robust(net: Any, te: Any) -> tuple[float, float]:
    from cpmap.models.adapters import TorchModel
    from cpmap.models.archs import ArchSpec
    from cpmap.models.protocol import accuracy
    from cpmap.robustness.evaluate import AttackSettings, evaluate

    m = TorchModel(net.eval(), ArchSpec("mlp", 64, 10, (128,)))
    ev = evaluate(m, te.x, te.y, [EPS], ["pgd"], AttackSettings(steps=10), checks=False)
    return accuracy(m, te.x, te.y), ev.results[0].robust_accuracy


def bench_training() -> dict[str, Any]:
    """Both trainers from the same initial weights, for each seed in SEEDS."""
    from art.defences.trainer import AdversarialTrainerMadryPGD

    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.training import train

    tr, te = _data()
    rows: dict[str, list[Any]] = {"ours": [], "art": [], "acc_ours": [], "acc_art": []}
    for seed in SEEDS:
        cfg = TrainConfig(arch="mlp", hidden=(128,), epochs=AT_EPOCHS, lr=AT_LR,
                          batch_size=AT_BATCH, adversarial="pgd", eps=EPS, steps=AT_STEPS,
                          seed=seed)
        start = time.perf_counter()
        ours = train(tr, cfg).model
        rows["ours"].append((time.perf_counter() - start) / AT_EPOCHS)
        net = _net(seed)  # the same initial weights cpmap's train() starts from
        np.random.seed(seed)  # noqa: NPY002 - ART shuffles with the global numpy state
        trainer = AdversarialTrainerMadryPGD(_art(net), nb_epochs=AT_EPOCHS,
                                             batch_size=AT_BATCH, eps=EPS,
                                             eps_step=2.5 * EPS / AT_STEPS, max_iter=AT_STEPS,
                                             num_random_init=1)
        start = time.perf_counter()
        trainer.fit(tr.x, np.eye(10, dtype=np.float32)[tr.y])
        rows["art"].append((time.perf_counter() - start) / AT_EPOCHS)
        rows["acc_ours"].append(_robust(getattr(ours, "net"), te))  # noqa: B009
        rows["acc_art"].append(_robust(net, te))
    return rows


def _ms(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    import logging

    logging.getLogger("art").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    p = bench_pgd()
    t = bench_training()
    c_o, r_o = ([a[i] for a in t["acc_ours"]] for i in (0, 1))
    c_a, r_a = ([a[i] for a in t["acc_art"]] for i in (0, 1))
    s_o, s_a = statistics.median(t["ours"]), statistics.median(t["art"])
    gap = (statistics.mean(r_o) - statistics.mean(r_a)) * 100
    per_seed = ", ".join(f"{(o - a) * 100:+.1f}" for o, a in zip(r_o, r_a, strict=True))
    body = f"""
Peer: ART {_art_version()} (`adversarial-robustness-toolbox`), torch {torch.__version__},
1 torch thread for both (the machine has 2 cores shared with other work). Model: the
built-in `mlp` (64-128-10) on scikit-learn digits scaled to [0, 1].

## PGD-10 on 1,000 samples (L-inf, eps {EPS}, step {STEP}, no random start)

| | seconds (median of 7) | robust accuracy |
|---|---|---|
| cpmap `robustness.attacks.pgd` (chunks of 512) | {p["ours"]:.3f} | {p["robust_ours"]:.3f} |
| ART `ProjectedGradientDescent`, batch 512 | {p["art"]:.3f} | {p["robust_art"]:.3f} |
| ART `ProjectedGradientDescent`, default batch 32 | {p["art32"]:.3f} | |

Speed-up: **{p["art"] / p["ours"]:.1f}x** against ART at the same batch size,
{p["art32"] / p["ours"]:.1f}x against its default (target >= 3x). Same examples: max
|difference| {p["max_diff"]:.2e}, identical predictions on {p["same_pred"]:.1%} of them.

## PGD adversarial training ({AT_EPOCHS} epochs, eps {EPS}, {AT_STEPS} steps, batch {AT_BATCH})

Seeds {", ".join(map(str, SEEDS))}; each seed gives both trainers the same initial weights.
Mean ± standard deviation over the seeds:

| | s/epoch (median) | clean accuracy | robust accuracy (PGD-10, eps {EPS}) |
|---|---|---|---|
| cpmap `cpmap train --adversarial pgd` | {s_o:.3f} | {_ms(c_o)} | {_ms(r_o)} |
| ART `AdversarialTrainerMadryPGD` | {s_a:.3f} | {_ms(c_a)} | {_ms(r_a)} |

Speed-up: **{s_a / s_o:.1f}x** (target >= 2x). Robust accuracy, cpmap minus ART:
{gap:+.1f} points on average (per seed: {per_seed}; target: within 2 points). The batch
order and the random starts come from different generators in the two trainers, so the final
weights differ. Both models are scored by the same evaluator (cpmap PGD-10 with a random
start) on the 450 held-out images.
"""
    write_page("cp4", "CP4 benchmark: attacks and adversarial training vs ART", body,
               "robustness")


def _art_version() -> str:
    import art

    return str(art.__version__)


if __name__ == "__main__":
    main()
