"""Plots for the CP2 cell of the report (stored content-addressed, named in the evidence)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


def class_sizes(ws: Workspace, sizes: np.ndarray, k: int, title: str) -> dict[str, str]:
    """Histogram of equivalence-class sizes with the required k marked."""
    from cpmap.core.artifacts import figure, save_plot

    fig = figure()
    ax = fig.axes[0]
    top = int(min(sizes.max(), 60))
    ax.hist(np.minimum(sizes, top), bins=range(1, top + 2), color="#4c72b0")
    ax.axvline(k, color="#c44e52", linestyle="--", label=f"k = {k}")
    ax.set_xlabel("records per equivalence class (quasi-identifiers)")
    ax.set_ylabel("classes")
    ax.legend()
    ax.set_title(title, fontsize=9)
    return save_plot(ws, fig, title)


def column_distances(ws: Workspace, distances: Mapping[str, float], title: str
                     ) -> dict[str, str]:
    """Per-column real-vs-synthetic distance (KS or total variation), 0 = identical."""
    from cpmap.core.artifacts import figure, save_plot

    fig = figure()
    ax = fig.axes[0]
    names = list(distances)
    ax.barh(names, [distances[n] for n in names], color="#55a868")
    ax.set_xlim(0, max(0.2, max(distances.values(), default=0) * 1.1))
    ax.set_xlabel("distance real vs synthetic (KS / TVD)")
    ax.set_title(title, fontsize=9)
    return save_plot(ws, fig, title)
