"""Randomness for DP-SGD that nobody can replay, and the one labelled way to make it replayable.

DP-SGD's guarantee rests on two secrets: the Gaussian noise added to each clipped gradient
sum and the Poisson sampling of each batch. cpmap once drew both from torch generators seeded
with the training seed (published in the model record and the evidence): anyone holding the
seed could retrain with and without a target record and see which run reproduces the
released weights exactly, which is membership with certainty.

Opacus' own ``secure_mode`` needs ``torchcsprng``, which has no build for current PyTorch. So
cpmap seeds two fresh torch generators (sampling, noise) with 63 bits each from the operating
system's CSPRNG (:mod:`secrets`); the seeds live only in memory, are never logged or recorded,
and an attacker sees only the trained weights, never the generator outputs. The noise is drawn
with Opacus' floating-point-robust sampler (``secure_mode`` on the optimizer: the sum of four
Gaussians, Holohan & Braghin 2021), which needs no CSPRNG package.

:class:`UnsafeReproducibleDP` is the explicit opt-out, for debugging and tests only: it draws
both from the public seed, warns, and is recorded in the evidence as unsafe.
"""

from __future__ import annotations

import secrets
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError

if TYPE_CHECKING:
    import torch


class UnsafeReproducibleDPWarning(UserWarning):
    """DP-SGD noise and sampling are drawn from a seed: the model does not protect members."""


@dataclass(frozen=True)
class UnsafeReproducibleDP:
    """Draw DP-SGD's noise and Poisson sampling from ``seed``: reproducible, and *not private*
    against anyone who knows the seed (which cpmap records). Never for a released model."""

    seed: int


@dataclass(frozen=True)
class DpRandomness:
    sampling: torch.Generator
    noise: torch.Generator
    unsafe: bool

    def evidence(self) -> dict[str, Any]:
        """What the model record and the privacy-spend evidence say about the randomness."""
        return {"randomness": "seeded from --seed (UNSAFE: replayable)" if self.unsafe
                else "os-csprng seeds, never recorded", "unsafe_reproducible_dp": self.unsafe}


def randomness(unsafe: UnsafeReproducibleDP | None = None) -> DpRandomness:
    """Fresh secret generators for sampling and noise, or the labelled unsafe seeded pair."""
    import torch

    if unsafe is None:
        return DpRandomness(torch.Generator().manual_seed(secrets.randbits(63)),
                            torch.Generator().manual_seed(secrets.randbits(63)), False)
    warnings.warn("--unsafe-reproducible-dp: DP-SGD noise and sampling come from the recorded "
                  "seed; anyone with it can replay training and test membership. Do not "
                  "release this model.", UnsafeReproducibleDPWarning, stacklevel=2)
    return DpRandomness(torch.Generator().manual_seed(unsafe.seed),
                        torch.Generator().manual_seed(unsafe.seed + 1), True)


def check_delta(delta: float, n: int) -> None:
    """delta must be below 1/n: at 1/n a mechanism may publish one whole record and still be
    (epsilon, delta)-DP."""
    if not 0 < delta < 1 / max(n, 1):
        raise InputError(f"--dp-delta {delta:g}: must be in (0, 1/n) for n = {n} training rows "
                         f"(below {1 / max(n, 1):.3g})", hint="the usual choice is below 1/n^1.1")


# Computed on private rows without noise and still stored with a DP model (the gate and the
# report read them): labelled non-private in the evidence. Per-epoch training loss and
# accuracy go to the operator's progress display only and are not stored at all.
NON_PRIVATE = ("clean_accuracy", "robust_accuracy", "train_rows", "test_rows")
STORED_HISTORY = ("epoch", "epochs", "epsilon", "seconds")
