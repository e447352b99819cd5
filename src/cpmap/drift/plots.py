"""CP9 figures: the reference and current distributions of a drifted feature, and series
across poisoning rounds or performance windows. Stored as workspace objects (PNG) that the
signed evidence names; the HTML page embeds the same bytes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def feature_figure(name: str, kind: str, ref: Any, cur: Any) -> Any:
    """Histograms (numeric: on shared bins) or category shares, reference vs current."""
    from cpmap.core.artifacts import figure

    fig = figure()
    ax = fig.axes[0]
    if kind == "numeric":
        r = np.asarray(ref, dtype=float)
        c = np.asarray(cur, dtype=float)
        r, c = r[~np.isnan(r)], c[~np.isnan(c)]
        both = np.concatenate([r, c]) if len(r) + len(c) else np.array([0.0])
        bins = np.histogram_bin_edges(both, bins=40)
        ax.hist(r, bins=bins, density=True, alpha=0.5, label="reference")
        ax.hist(c, bins=bins, density=True, alpha=0.5, label="current")
    else:
        import pandas as pd

        rs = pd.Series(ref, dtype="object").astype(str).value_counts(normalize=True)
        cs = pd.Series(cur, dtype="object").astype(str).value_counts(normalize=True)
        cats = list(dict.fromkeys([*rs.index, *cs.index]))[:20]
        x = np.arange(len(cats))
        ax.bar(x - 0.2, [rs.get(k, 0) for k in cats], 0.4, label="reference")
        ax.bar(x + 0.2, [cs.get(k, 0) for k in cats], 0.4, label="current")
        ax.set_xticks(x, cats, rotation=45, fontsize=7)
    ax.set_title(f"{name}: reference vs current")
    ax.legend()
    return fig


def series_figure(title: str, xs: Sequence[Any], lines: dict[str, Sequence[float]],
                  threshold: float | None = None, ylabel: str = "") -> Any:
    """One line per named series over rounds or windows, with an optional alarm threshold."""
    from cpmap.core.artifacts import figure

    fig = figure()
    ax = fig.axes[0]
    for label, ys in lines.items():
        ax.plot(list(range(len(xs))), list(ys), marker="o", label=label)
    if threshold is not None:
        ax.axhline(threshold, color="red", linestyle="--", label="alarm")
    ax.set_xticks(list(range(len(xs))), [str(x) for x in xs], fontsize=7)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return fig


def png(fig: Any) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
