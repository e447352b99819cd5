"""Built-in architectures, named in a JSON spec so that weights never need code to load.

A saved torch model is its safetensors weights plus an :class:`ArchSpec`; loading rebuilds the
module from the spec by name, so no user code and no pickle is ever executed. Networks take
flat rows; the ``cnn`` reshapes them to ``channels x height x width`` itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from cpmap.errors import InputError


@dataclass(frozen=True)
class ArchSpec:
    """What it takes to rebuild a network: architecture name, sizes and options."""

    arch: str
    input_dim: int
    n_classes: int
    hidden: tuple[int, ...] = (64,)
    image_shape: tuple[int, int, int] | None = None  # (channels, height, width) for cnn
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data["hidden"] = list(self.hidden)
        data["image_shape"] = list(self.image_shape) if self.image_shape else None
        data["options"] = dict(self.options)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "spec") -> ArchSpec:
        try:
            data = json.loads(text)
            shape = data.get("image_shape")
            spec = cls(
                arch=str(data["arch"]), input_dim=int(data["input_dim"]),
                n_classes=int(data["n_classes"]),
                hidden=tuple(int(h) for h in data.get("hidden", (64,))),
                image_shape=(int(shape[0]), int(shape[1]), int(shape[2])) if shape else None,
                options=dict(data.get("options", {})),
            )
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise InputError(f"{where}: invalid architecture spec: {e}") from e
        spec.check(where)
        return spec

    def check(self, where: str = "spec") -> None:
        if self.arch not in ARCHS:
            raise InputError(f"{where}: unknown architecture {self.arch!r}",
                             hint=f"one of {', '.join(sorted(ARCHS))}")
        if not (0 < self.input_dim <= 1 << 24 and 1 < self.n_classes <= 100_000):
            raise InputError(f"{where}: input_dim/n_classes out of range")
        if any(not 0 < h <= 1 << 16 for h in self.hidden) or len(self.hidden) > 16:
            raise InputError(f"{where}: hidden sizes out of range")


class _LogReg(nn.Module):
    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        self.linear = nn.Linear(spec.input_dim, spec.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(x)
        return out


class _MLP(nn.Module):
    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = spec.input_dim
        for h in spec.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, spec.n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


class _CNN(nn.Module):
    """Two 3x3 conv layers and a linear head: small enough for 8x8 digits on 2 cores."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        c, h, w = spec.image_shape or _square_image(spec.input_dim)
        self.shape = (c, h, w)
        f1, f2 = (spec.hidden + (32, 32))[:2] if len(spec.hidden) < 2 else spec.hidden[:2]
        self.features = nn.Sequential(
            nn.Conv2d(c, f1, 3, padding=1), nn.ReLU(),
            nn.Conv2d(f1, f2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(f2 * (h // 2) * (w // 2), spec.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x.reshape(x.shape[0], *self.shape))
        out: torch.Tensor = self.head(z.flatten(1))
        return out


def _square_image(dim: int) -> tuple[int, int, int]:
    side = math.isqrt(dim)
    if side * side != dim:
        raise InputError(f"cnn: input of {dim} features is not a square image; "
                         "give image_shape")
    return (1, side, side)


ARCHS: dict[str, Callable[[ArchSpec], nn.Module]] = {
    "logreg": _LogReg,
    "mlp": _MLP,
    "cnn": _CNN,
}


def build(spec: ArchSpec) -> nn.Module:
    """A freshly initialised module for ``spec`` (seed torch first for reproducible weights)."""
    spec.check(spec.arch)
    if spec.arch == "cnn" and spec.image_shape is not None:
        c, h, w = spec.image_shape
        if c * h * w != spec.input_dim:
            raise InputError(f"cnn: image_shape {spec.image_shape} does not match "
                             f"{spec.input_dim} inputs")
    return ARCHS[spec.arch](spec)
