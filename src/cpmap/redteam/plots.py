"""Campaign plots for the report: membership ROC (log-log), inversions, extraction curves.

The ROC is drawn on log-log axes because the low-FPR corner is where membership inference
matters (Carlini et al. 2022); on linear axes every attack there looks like chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.core.artifacts import figure, save_plot

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.redteam.extraction import ExtractionResult
    from cpmap.redteam.inversion import InversionResult
    from cpmap.redteam.membership import MembershipResult


def roc_figure(curves: Sequence[tuple[str, MembershipResult]]) -> Any:
    fig = figure()
    ax = fig.axes[0]
    floor = 1e-4
    for label, res in curves:
        fpr = np.clip(res.roc.fpr, floor, 1.0)
        tpr = np.clip(res.roc.tpr, floor, 1.0)
        r = res.rate(0.01)
        ax.plot(fpr, tpr, label=f"{label} (AUC {res.auc:.3f}, TPR@1% "
                                + (f"{r.value:.3f} [{r.lo:.3f}, {r.hi:.3f}])" if r else
                                   "not estimable)"))
        ax.axvline(1.0 / max(res.nonmembers, 1), color="grey", linewidth=0.5, linestyle="--")
    ax.plot([floor, 1], [floor, 1], "k:", linewidth=0.8, label="chance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor, 1)
    ax.set_ylim(floor, 1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("Membership inference ROC (log-log)")
    ax.legend(fontsize=6, loc="lower right")
    return fig


def inversion_figure(res: InversionResult, image_shape: tuple[int, int]) -> Any:
    import matplotlib.pyplot as plt

    k = len(res.similarity)
    fig, axes = plt.subplots(2, k, figsize=(max(4.0, 0.9 * k), 2.2), squeeze=False)
    for i in range(k):
        for row, img in ((0, res.reconstructions[i]), (1, res.class_means[i])):
            ax = axes[row][i]
            ax.imshow(np.asarray(img).reshape(image_shape), cmap="gray_r")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0][i].set_title(f"{i}: {res.similarity[i]:.2f}", fontsize=7)
    axes[0][0].set_ylabel("inverted", fontsize=7)
    axes[1][0].set_ylabel("class mean", fontsize=7)
    fig.suptitle("Model inversion (MIFace): reconstruction vs class mean, cosine", fontsize=8)
    return fig


def extraction_figure(res: ExtractionResult) -> Any:
    fig = figure()
    ax = fig.axes[0]
    outputs = sorted({p.output for p in res.points})
    for output in outputs:
        pts = sorted((p for p in res.points if p.output == output), key=lambda p: p.budget)
        ax.plot([p.budget for p in pts], [p.fidelity for p in pts], marker="o", label=output)
    ax.set_xscale("log")
    ax.set_xlabel("queries")
    ax.set_ylabel("fidelity (agreement with target)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Model extraction: fidelity vs query budget")
    ax.legend(fontsize=7)
    return fig


def save(ws: Workspace, fig: Any, title: str) -> dict[str, str]:
    return save_plot(ws, fig, title)
