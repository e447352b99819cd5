"""``cpmap monitor status`` and ``alerts``: a window of the monitored prediction log, and the
signed alerts, with rates as counts and Clopper-Pearson intervals.

:func:`summarize` reads the window; :func:`record_summary` signs it as ``monitor-summary``
evidence about the version with the confidence / OOD-rate-over-time plot the report shows.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.monitor.predlog import query

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

MIN_ESTIMABLE = 30  # fewer scored requests: the OOD rate is "not estimable"
ALERT_KINDS = ("monitor-alert", "gateway-alert")


def alerts(ws: Workspace, model: str | None = None) -> list[dict[str, Any]]:
    """Every CP8 alert in the ledger (newest last), optionally for one model name."""
    from cpmap.core.ledger import Ledger

    out = []
    for e in Ledger(ws).entries(control="CP8"):
        kind = str(e.summary()["kind"])
        if kind not in ALERT_KINDS:
            continue
        d = e.predicate.get("details", {})
        subject = next((s["name"] for s in e.summary()["subjects"]), "")
        name = str(subject).removeprefix("model:")
        if model is not None and name.split("@")[0] != model.split("@")[0]:
            continue
        out.append({"entry": e.index, "created_at": e.created_at[:19], "kind": kind,
                    "alert": d.get("alert", ""), "atlas": d.get("atlas", ""), "model": name,
                    "client": d.get("client"), "window": d.get("window"),
                    "action": d.get("action", "alert"), "message": d.get("message", "")})
    return out


def summarize(ws: Workspace, model: str, since_s: float | None = None) -> dict[str, Any]:
    """Counts, confidence, OOD rate (with its interval), alerts and top refused clients."""
    from cpmap.redteam.stats import clopper_pearson

    rows = query(ws, model, since_s=since_s, limit=1_000_000)
    scored = [r for r in rows if r["ood"] is not None]
    ood = sum(1 for r in scored if r["ood"])
    conf = [float(r["confidence"]) for r in scored if r["confidence"] is not None]
    out: dict[str, Any] = {
        "model": model, "predictions": len(rows), "scored": len(scored), "ood": ood,
        "refused": sum(1 for r in rows if r["status"] >= 400),
        "mean_confidence": round(float(np.mean(conf)), 4) if conf else None,
        "low_confidence": sum(1 for c in conf if c < 0.5)}
    if len(scored) >= MIN_ESTIMABLE:
        ci = clopper_pearson(ood, len(scored))
        out["ood_rate"] = {"rate": ood / len(scored), "low": ci.lo, "high": ci.hi}
    else:
        out["ood_rate"] = f"not estimable ({len(scored)} scored requests)"
    refused = Counter(r["client"] for r in rows if r["status"] >= 400 and r["client"])
    out["top_refused"] = [{"client": c, "refused": n} for c, n in refused.most_common(5)]
    found = alerts(ws, model)
    out["alerts"] = len(found)
    out["alert_kinds"] = dict(Counter(str(a["alert"]) for a in found))
    out["first"] = rows[0]["ts"] if rows else None
    out["last"] = rows[-1]["ts"] if rows else None
    return out


def _plot(ws: Workspace, rows: list[dict[str, Any]], title: str) -> dict[str, str] | None:
    from cpmap.core.artifacts import figure, save_plot

    scored = [r for r in rows if r["ood"] is not None]
    if len(scored) < 2:
        return None
    t0 = scored[0]["ts"]
    bins = min(30, max(2, len(scored) // 10))
    edges = np.linspace(0, scored[-1]["ts"] - t0 + 1e-6, bins + 1)
    ts = np.array([r["ts"] - t0 for r in scored])
    conf = np.array([r["confidence"] for r in scored], dtype=float)
    ood = np.array([bool(r["ood"]) for r in scored], dtype=float)
    idx = np.clip(np.digitize(ts, edges) - 1, 0, bins - 1)
    mid = (edges[:-1] + edges[1:]) / 2
    counts = np.bincount(idx, minlength=bins)
    keep = counts > 0
    fig = figure()
    ax = fig.axes[0]
    ax.plot(mid[keep], (np.bincount(idx, conf, bins) / np.maximum(counts, 1))[keep],
            marker="o", label="mean confidence")
    ax.plot(mid[keep], (np.bincount(idx, ood, bins) / np.maximum(counts, 1))[keep],
            marker="s", label="OOD rate")
    ax.set_xlabel("seconds since the window's first request")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="best")
    ax.set_title(title)
    return save_plot(ws, fig, title)


def record_summary(ws: Workspace, model: str, since_s: float | None = None) -> int:
    """Sign the window as ``monitor-summary`` evidence about the version; its ledger index."""
    from cpmap.core.evidence import Evidence, Subject, Verdict, record
    from cpmap.core.predicate import Plot
    from cpmap.monitor.predicates import MonitorSummary
    from cpmap.registry.versions import get

    mv = get(ws, model if "@" in model else f"{model}@latest")
    s = summarize(ws, mv.ref, since_s)
    rows = query(ws, mv.ref, since_s=since_s, limit=1_000_000)
    plot = _plot(ws, rows, f"{mv.ref}: confidence and OOD rate over time")
    rate = s["ood_rate"] if isinstance(s["ood_rate"], dict) else {}
    line = (f"{s['predictions']} predictions, {s['ood']} OOD, {s['refused']} refused, "
            f"{s['alerts']} alerts")
    pred = MonitorSummary(
        verdict=Verdict.WARN if s["alerts"] else Verdict.PASS, predictions=s["predictions"],
        refused=s["refused"], ood=s["ood"], ood_rate=rate.get("rate"),
        ood_rate_low=rate.get("low"), ood_rate_high=rate.get("high"),
        mean_confidence=s["mean_confidence"], low_confidence=s["low_confidence"],
        alert_count=s["alerts"], window=f"{s['first']}..{s['last']}",
        top_refused=tuple(s["top_refused"]), alert_kinds=s["alert_kinds"],
        plots=(Plot.of(plot),) if plot else (), highlights=(line,))
    return record(Evidence.of(pred, [Subject(f"model:{mv.ref}", mv.digest)]), ws).index
