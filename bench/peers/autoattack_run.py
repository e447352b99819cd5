"""Run torchattacks' AutoAttack (standard: APGD-CE, APGD-T, FAB-T, Square) on saved weights,
and its FAB (multi-targeted, 10 steps as in its AutoAttack) and Square (5,000 queries) alone.

Runs inside bench/.venv-peers (made by bench/autoattack_peer.py), never imports cpmap: it
rebuilds the MLP from its state dict (loaded with ``weights_only=True``, no pickle code runs)
and attacks the saved rows. Usage: ``python autoattack_run.py DIR`` with DIR/manifest.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchattacks
from torch import nn


class MLP(nn.Module):
    def __init__(self, sizes: list[int], scale: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in zip(sizes, sizes[1:], strict=False):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers[:-1])
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x.flatten(1)) * self.scale
        return out


def alone(net: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, name: str) -> float:
    """Robust accuracy under one of AutoAttack's components, configured as in its ensemble
    (an adversarial point counts only within eps)."""
    if name == "fab":
        atk: torchattacks.Attack = torchattacks.FAB(net, norm="Linf", eps=eps, steps=10,
                                                   multi_targeted=True, n_classes=10,
                                                   n_restarts=1, seed=0)
    else:
        atk = torchattacks.Square(net, norm="Linf", eps=eps, n_queries=5000, n_restarts=1,
                                  seed=0)
    adv = atk(x, y)
    with torch.no_grad():
        ok = net(adv).argmax(1) == y
    far = (adv - x).flatten(1).abs().amax(1) > eps + 1e-6
    return float((ok | far).float().mean())


def main(folder: Path) -> None:
    torch.set_num_threads(1)
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = np.load(folder / "rows.npz")
    x = torch.from_numpy(rows["x"].astype(np.float32)).reshape(-1, 1, 8, 8)  # NCHW for Square
    y = torch.from_numpy(rows["y"].astype(np.int64))
    out = {}
    for m in manifest["models"]:
        net = MLP(m["sizes"], m["scale"])
        net.load_state_dict(torch.load(folder / m["weights"], weights_only=True))
        net.eval()
        for eps in manifest["eps"]:
            start = time.perf_counter()
            atk = torchattacks.AutoAttack(net, norm="Linf", eps=eps, version="standard",
                                          n_classes=10, seed=0)
            adv = atk(x, y)
            with torch.no_grad():
                acc = float((net(adv).argmax(1) == y).float().mean())
            out[f"{m['name']}@{eps:g}"] = {"robust_accuracy": acc,
                                           "seconds": time.perf_counter() - start,
                                           "fab-t": alone(net, x, y, eps, "fab"),
                                           "square": alone(net, x, y, eps, "square")}
            print(m["name"], eps, round(acc, 4), flush=True)
    (folder / "peer.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
