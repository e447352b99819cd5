"""Robustness curves: accuracy against eps, one line per attack (and per model)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from cpmap.core.artifacts import figure, save_plot

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.robustness.evaluate import Evaluation

STYLES = ("-", "--", ":", "-.")
COLORS = {"fgsm": "tab:blue", "pgd": "tab:red", "pgd-l2": "tab:purple", "apgd": "tab:green",
          "square": "tab:orange", "hsj": "tab:brown"}


def curves(ws: Workspace, evaluations: Mapping[str, Evaluation], title: str) -> dict[str, str]:
    """Plot every (model, attack) curve, starting from clean accuracy at eps 0; store it.

    Colour says the attack and line style the model, so two models' curves for the same
    attack are easy to compare.
    """
    fig = figure()
    ax = fig.axes[0]
    for i, (model, ev) in enumerate(evaluations.items()):
        for attack in dict.fromkeys(r.attack for r in ev.results):
            rows = sorted((r for r in ev.results if r.attack == attack), key=lambda r: r.eps)
            xs = [0.0] + [r.eps for r in rows]
            ys = [ev.clean_accuracy] + [r.robust_accuracy for r in rows]
            label = f"{model}: {attack}" if len(evaluations) > 1 else attack
            ax.plot(xs, ys, STYLES[i % len(STYLES)], marker="o", markersize=3, label=label,
                    color=COLORS.get(attack))
    ax.set_xlabel("eps (L-inf; L2 for pgd-l2)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return save_plot(ws, fig, title)
