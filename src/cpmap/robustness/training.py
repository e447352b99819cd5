"""Training in plain PyTorch: standard, PGD adversarial (Madry), TRADES, defensive distillation
and DP-SGD (Opacus); scikit-learn estimators for the tabular baselines.

Everything is seeded (torch, numpy, the batch order) so the same config on the same data gives
the same weights, except DP-SGD's noise and sampling, which are secret by default
(:mod:`cpmap.privacy.dpsgd`; ``--unsafe-reproducible-dp`` seeds them, labelled unsafe).
Adversarial examples are made with the model in eval mode and only input gradients, then the
weights are updated on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cpmap.errors import InputError
from cpmap.models.adapters import SklearnModel, TorchModel
from cpmap.models.archs import ArchSpec, build
from cpmap.models.datasets import Dataset
from cpmap.models.protocol import GradientModel, Model
from cpmap.robustness import attacks as atk
from cpmap.robustness.config import TrainConfig

EpochHook = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrainOutcome:
    model: Model
    history: tuple[dict[str, Any], ...]
    seconds: float
    dp: dict[str, Any] = field(default_factory=dict)
    #: metric names computed on private rows without noise (DP-SGD only): the evidence's
    #: typed ``non_private`` field (cpmap.robustness.predicates.ModelTraining)
    non_private: tuple[str, ...] = ()


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 - libraries that use the global state
    return torch.Generator().manual_seed(seed)


def train(ds: Dataset, cfg: TrainConfig, teacher: Model | None = None,
          on_epoch: EpochHook | None = None) -> TrainOutcome:
    """Train ``cfg.arch`` on ``ds`` (the training split)."""
    start = time.perf_counter()
    if not cfg.is_torch:
        return TrainOutcome(_sklearn(ds, cfg), (), time.perf_counter() - start)
    gen = seed_everything(cfg.seed)
    spec = ArchSpec(cfg.arch, ds.input_dim, ds.n_classes, cfg.hidden,
                    ds.image_shape if cfg.arch == "cnn" else None)
    net = build(spec)
    x = torch.from_numpy(np.ascontiguousarray(ds.x, dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(ds.y, dtype=np.int64))
    if cfg.dp_epsilon is not None:
        trained, history, dp = _dp_train(net, x, y, cfg, gen, on_epoch)
        net = build(spec)  # a clean module: Opacus leaves per-sample-gradient hooks behind
        net.load_state_dict(trained.state_dict())
    else:
        soft = _soft_labels(teacher, ds, cfg) if teacher is not None else None
        history = _train_loop(net, x, y, soft, cfg, gen, on_epoch, ds.bounds)
        dp = {}
    net.eval()
    model = TorchModel(net, spec, meta=ds.meta())
    from cpmap.privacy.dpsgd import NON_PRIVATE

    return TrainOutcome(model, tuple(history), time.perf_counter() - start, dp,
                        NON_PRIVATE if dp else ())


def _sklearn(ds: Dataset, cfg: TrainConfig) -> SklearnModel:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    est: Any
    if cfg.arch == "forest":
        est = RandomForestClassifier(n_estimators=50, max_depth=8, random_state=cfg.seed,
                                     n_jobs=1)
    elif cfg.arch == "gbt":
        est = HistGradientBoostingClassifier(max_iter=100, random_state=cfg.seed)
    else:
        est = LogisticRegression(max_iter=1000)
    est.fit(ds.x, ds.y)
    return SklearnModel(est, meta=ds.meta())


def _soft_labels(teacher: Model, ds: Dataset, cfg: TrainConfig) -> torch.Tensor:
    """The teacher's class distribution at temperature T (Papernot et al. 2016)."""
    if teacher.n_classes != ds.n_classes or teacher.input_shape != (ds.input_dim,):
        raise InputError("--distill-from: the teacher's inputs/classes do not match the data")
    x = torch.from_numpy(np.ascontiguousarray(ds.x, dtype=np.float32))
    if isinstance(teacher, GradientModel):
        teacher.module.eval()
        with torch.no_grad():
            logits = teacher.logits(x)
    else:
        logits = torch.log(torch.from_numpy(teacher.predict_proba(ds.x)).clamp_min(1e-12))
    return torch.softmax(logits / cfg.temperature, dim=1)


def _adversarial(net: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor, cfg: TrainConfig,
                 gen: torch.Generator, box: atk.Box) -> torch.Tensor:
    net.eval()
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    if cfg.adversarial == "trades":
        adv = _trades_points(net, xb, cfg, seed, box)
    else:
        adv = atk.pgd(net, xb, yb, cfg.eps, steps=cfg.steps, alpha=cfg.alpha, seed=seed,
                      box=box)
    net.train()
    return adv


def _trades_points(net: torch.nn.Module, xb: torch.Tensor, cfg: TrainConfig, seed: int,
                   box: atk.Box) -> torch.Tensor:
    """TRADES inner maximisation: the point in the eps-ball whose prediction differs most."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        p_nat = torch.softmax(net(xb), dim=1)
    adv = (xb + 0.001 * torch.randn(xb.shape, generator=gen)).clamp(box.lo, box.hi)
    step = cfg.alpha if cfg.alpha is not None else 2.5 * cfg.eps / cfg.steps
    for _ in range(cfg.steps):
        adv = adv.detach().requires_grad_(True)
        with torch.enable_grad():
            kl = F.kl_div(F.log_softmax(net(adv), dim=1), p_nat, reduction="sum")
            (g,) = torch.autograd.grad(kl, adv)
        adv = torch.min(torch.max(adv + step * g.sign(), xb - cfg.eps), xb + cfg.eps)
        adv = adv.clamp(box.lo, box.hi)
    return adv.detach()


def _loss(net: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor, sb: torch.Tensor | None,
          cfg: TrainConfig, gen: torch.Generator, box: atk.Box) -> torch.Tensor:
    if sb is not None:
        logp = F.log_softmax(net(xb) / cfg.temperature, dim=1)
        out: torch.Tensor = -(sb * logp).sum(1).mean()
        return out
    if cfg.adversarial is None:
        out = F.cross_entropy(net(xb), yb)
        return out
    adv = _adversarial(net, xb, yb, cfg, gen, box)
    if cfg.adversarial == "pgd":
        out = F.cross_entropy(net(adv), yb)
        return out
    logits = net(xb)
    kl = F.kl_div(F.log_softmax(net(adv), dim=1), torch.softmax(logits, dim=1),
                  reduction="batchmean")
    out = F.cross_entropy(logits, yb) + cfg.trades_beta * kl
    return out


def _train_loop(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                soft: torch.Tensor | None, cfg: TrainConfig, gen: torch.Generator,
                on_epoch: EpochHook | None, bounds: tuple[float, float]) -> list[dict[str, Any]]:
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    box = atk.Box(*bounds)
    history = []
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        net.train()
        order = torch.randperm(len(x), generator=gen)
        total, seen = 0.0, 0
        for i in range(0, len(x), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            sb = soft[idx] if soft is not None else None
            loss = _loss(net, x[idx], y[idx], sb, cfg, gen, box)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        history.append(_epoch_stats(net, x, y, epoch, total / max(seen, 1), t0, cfg))
        if on_epoch:
            on_epoch(history[-1])
    opt.zero_grad(set_to_none=True)
    return history


def _epoch_stats(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epoch: int,
                 loss: float, t0: float, cfg: TrainConfig) -> dict[str, Any]:
    net.eval()
    with torch.no_grad():
        acc = float((net(x).argmax(1) == y).float().mean())
    return {"epoch": epoch + 1, "epochs": cfg.epochs, "loss": round(loss, 5),
            "train_accuracy": round(acc, 5), "seconds": round(time.perf_counter() - t0, 3)}


def _dp_train(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
              gen: torch.Generator, on_epoch: EpochHook | None
              ) -> tuple[torch.nn.Module, list[dict[str, Any]], dict[str, Any]]:
    """DP-SGD with Opacus: per-sample clipping, Gaussian noise, RDP accounting."""
    try:
        from opacus import PrivacyEngine  # type: ignore[import-untyped]
    except ImportError as e:
        raise InputError("--dp-epsilon needs Opacus", hint="pip install 'cpmap[dp-sgd]'") from e
    import warnings

    from cpmap.privacy.dpsgd import UnsafeReproducibleDP, check_delta, randomness

    check_delta(cfg.dp_delta, len(x))
    rng = randomness(UnsafeReproducibleDP(cfg.seed) if cfg.unsafe_reproducible_dp else None)
    with warnings.catch_warnings():
        # Opacus warns about its RNG without torchcsprng (cpmap seeds it from the OS CSPRNG:
        # cpmap.privacy.dpsgd), the RDP order range and backward hooks.
        warnings.simplefilter("ignore", UserWarning)
        return _dp_loop(PrivacyEngine, net, x, y, cfg, rng, on_epoch)


# RDP orders for the accountant: integers only. Opacus' default adds 99 fractional orders in
# (1, 11), whose series took ~95% of a small model's DP-SGD training time; the minimum over a
# subset of orders is an upper bound on the default's epsilon, so this never under-reports.
ALPHAS = [*range(2, 64)]  # the integer part of Opacus' default orders


class _Epsilon:
    """The accountant's epsilon after each epoch, at the cost of one RDP evaluation per run:
    the RDP of ``k`` steps at a fixed noise and sampling rate is ``k`` times one step's."""

    def __init__(self, delta: float) -> None:
        self.delta = delta
        self.one: dict[tuple[float, float], Any] = {}

    def __call__(self, engine: Any) -> float:
        from opacus.accountants.analysis import rdp  # type: ignore[import-untyped]

        total = 0.0
        for sigma, q, steps in engine.accountant.history:
            key = (float(sigma), float(q))
            if key not in self.one:
                self.one[key] = rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=1,
                                                orders=ALPHAS)
            total = total + self.one[key] * steps
        if not engine.accountant.history:
            return 0.0
        eps, _alpha = rdp.get_privacy_spent(orders=ALPHAS, rdp=total, delta=self.delta)
        return float(eps)


def _noise_multiplier(cfg: TrainConfig, sample_rate: float) -> float:
    """The smallest noise reaching the target epsilon over the run (Opacus' search)."""
    from opacus.accountants.utils import get_noise_multiplier  # type: ignore[import-untyped]

    assert cfg.dp_epsilon is not None  # noqa: S101 - caller checked
    try:
        return float(get_noise_multiplier(
            target_epsilon=cfg.dp_epsilon, target_delta=cfg.dp_delta, sample_rate=sample_rate,
            epochs=cfg.epochs, accountant="rdp", alphas=ALPHAS))
    except ValueError as e:  # Opacus: no noise multiplier reaches so small an epsilon
        raise InputError(f"--dp-epsilon {cfg.dp_epsilon:g}: Opacus cannot train at this "
                         f"privacy level ({e})", hint="raise --dp-epsilon") from e


def _dp_loop(engine_cls: Any, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
             cfg: TrainConfig, rng: Any, on_epoch: EpochHook | None
             ) -> tuple[torch.nn.Module, list[dict[str, Any]], dict[str, Any]]:
    from torch.utils.data import DataLoader, TensorDataset

    from cpmap.privacy.dpsgd import STORED_HISTORY

    assert cfg.dp_epsilon is not None  # noqa: S101 - caller checked
    # Poisson sampling draws from the loader's generator, the noise from noise_generator:
    # both secret (cpmap.privacy.dpsgd), never the published seed unless explicitly unsafe
    loader = DataLoader(TensorDataset(x, y), batch_size=cfg.batch_size, shuffle=True,
                        generator=rng.sampling)
    opt = torch.optim.SGD(net.parameters(), lr=max(cfg.lr, 0.05), momentum=0.9)
    engine = engine_cls(accountant="rdp", secure_mode=False)
    sigma = _noise_multiplier(cfg, 1 / len(loader))
    private, opt, loader = engine.make_private(
        module=net, optimizer=opt, data_loader=loader, noise_multiplier=sigma,
        max_grad_norm=cfg.max_grad_norm, noise_generator=rng.noise)
    opt.secure_mode = True  # Opacus' floating-point-robust Gaussian noise
    epsilon = _Epsilon(cfg.dp_delta)
    history = []
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        private.train()
        total, seen = 0.0, 0
        for xb, yb in loader:
            if len(xb) == 0:
                continue
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(private(xb), yb)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach()) * len(xb)
            seen += len(xb)
        stats = _epoch_stats(private, x, y, epoch, total / max(seen, 1), t0, cfg)
        stats["epsilon"] = round(epsilon(engine), 4)
        if on_epoch:  # loss and accuracy on private rows: shown to the operator, not stored
            on_epoch(stats)
        history.append({k: stats[k] for k in STORED_HISTORY})
    spent = epsilon(engine)
    inner: torch.nn.Module = getattr(private, "_module", private)
    dp = {"mechanism": "DP-SGD (Opacus, RDP accountant)", "target_epsilon": cfg.dp_epsilon,
          "epsilon": round(spent, 4), "delta": cfg.dp_delta,
          "noise_multiplier": float(opt.noise_multiplier),
          "max_grad_norm": cfg.max_grad_norm, "secure_mode": False, "secure_noise": True,
          **rng.evidence()}
    return inner, history, dp
