"""Drift output: the table rows, and the one-page HTML with a plot per drifted feature.

The page is self-contained (inline CSS, PNGs as data URIs, no script), like cpmap's report.
"""

from __future__ import annotations

import base64
import html
from typing import TYPE_CHECKING, Any

from cpmap.drift.plots import feature_figure, png

if TYPE_CHECKING:
    import pandas as pd

    from cpmap.drift.engine import DriftResult

MAX_PLOTS = 24


def figures(result: DriftResult, ref: pd.DataFrame, cur: pd.DataFrame,
            limit: int = MAX_PLOTS) -> list[tuple[str, bytes]]:
    """(title, PNG) for each drifted feature (missing-rate rows plot their feature)."""
    out: list[tuple[str, bytes]] = []
    for f in result.drifted[:limit]:
        col = f.name.removesuffix(" [missing]")
        if col not in ref.columns or col not in cur.columns:
            continue
        kind = "categorical" if f.kind == "missing" else f.kind
        a = ref[col].isna().astype(int) if f.kind == "missing" else ref[col]
        b = cur[col].isna().astype(int) if f.kind == "missing" else cur[col]
        out.append((f"drift: {f.name}", png(feature_figure(f.name, kind, a, b))))
    return out


def rows(result: DriftResult) -> list[dict[str, Any]]:
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.3g}"

    return [{"feature": f.name, "test": f.test, "statistic": fmt(f.statistic),
             "p (adj.)": fmt(f.p_adjusted), "effect": f"{fmt(f.effect)} {f.effect_name}",
             "drift": "no verdict" if f.drift is None else ("DRIFT" if f.drift else "-")}
            for f in result.features]


def page(result: DriftResult, pngs: list[tuple[str, bytes]]) -> str:
    e = html.escape
    mv = result.multivariate
    head = (f"<h1>Drift: {'DRIFT' if result.drift else 'no drift'}</h1>"
            f"<p>reference {e(str(result.reference.get('name')))} "
            f"({result.reference.get('rows')} rows) vs current "
            f"{e(str(result.current.get('name')))} ({result.current.get('rows')} rows); "
            f"{e(result.policy.correction.upper())} at alpha {result.policy.alpha}, "
            f"min effect {result.policy.min_effect}; engine {e(result.engine)}</p>"
            f"<p>multivariate ({e(mv.test)}): AUC {mv.auc}, p {mv.p_value}, "
            f"drift {mv.drift} {e(mv.reason)}</p>")
    table = rows(result)
    cols = list(table[0]) if table else []
    body = "".join("<tr>" + "".join(f"<td>{e(str(r[c]))}</td>" for c in cols) + "</tr>"
                   for r in table)
    grid = "".join(f"<figure><img alt='{e(t)}' src='data:image/png;base64,"
                   f"{base64.b64encode(b).decode()}'><figcaption>{e(t)}</figcaption></figure>"
                   for t, b in pngs)
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px}figure{display:inline-block}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>cpmap drift</title>"
            f"<style>{style}</style></head><body>{head}<table><tr>"
            + "".join(f"<th>{e(c)}</th>" for c in cols) + f"</tr>{body}</table>{grid}"
            "</body></html>")
