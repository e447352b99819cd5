"""The Control Points Map: five phases by ten controls, built from the ledger's evidence.

Each cell's status comes from the latest evidence of each kind for that control: ``fail`` if any
failed, ``warn`` if any warned, ``pass`` if all passed, ``not run`` when the control is
implemented but has no evidence yet, ``not implemented yet`` otherwise. The page is one
self-contained HTML file (inline CSS, plots as data URIs, no scripts from anywhere).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cpmap import __version__
from cpmap.controls import CONTROLS, PHASES, Control
from cpmap.core.artifacts import load_object
from cpmap.core.ledger import Entry, Ledger, verify_ledger
from cpmap.core.workspace import Workspace, atomic_write
from cpmap.errors import Error

MAX_FINDINGS = 25


@dataclass
class KindView:
    kind: str
    index: int
    verdict: str
    created_at: str
    subjects: list[str]
    metrics: dict[str, Any]
    findings: list[dict[str, Any]]
    highlights: list[str]
    plots: list[dict[str, str]]


@dataclass
class Cell:
    control: Control
    status: str
    evidence: int = 0
    kinds: list[KindView] = field(default_factory=list)
    severity_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class MapModel:
    workspace: str
    generated: str
    ledger_size: int
    ledger_ok: bool
    ledger_message: str
    checkpoint: str
    cells: list[Cell]
    title: str = "Control Points Map"
    subtitle: str = ""
    extra_sections: list[dict[str, str]] = field(default_factory=list)

    def phases(self) -> list[tuple[int, str, list[Cell]]]:
        return [(n, name, [c for c in self.cells if c.control.phase == n])
                for n, name in PHASES.items()]


def _kind(entry: Entry) -> str:
    return str(entry.summary()["kind"])


def _plots(ws: Workspace, refs: Iterable[Any]) -> list[dict[str, str]]:
    out = []
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        data = load_object(ws, str(ref.get("sha256", "")))
        if data is None:
            continue
        mime = str(ref.get("media_type", "image/png"))
        out.append({"title": str(ref.get("title", "")),
                    "uri": f"data:{mime};base64,{base64.b64encode(data).decode()}"})
    return out


def _view(ws: Workspace, entry: Entry) -> KindView:
    pred = entry.predicate
    details = pred.get("details") or {}
    return KindView(
        kind=_kind(entry), index=entry.index, verdict=str(pred.get("verdict", "")),
        created_at=entry.created_at[:19].replace("T", " "),
        subjects=[f"{s.get('name')} sha256:{str(s.get('digest', {}).get('sha256', ''))[:12]}"
                  for s in entry.statement.get("subject", [])][:6],
        metrics={k: v for k, v in (pred.get("metrics") or {}).items()
                 if isinstance(v, str | int | float | bool)},
        findings=list(pred.get("findings") or [])[:MAX_FINDINGS],
        highlights=[str(h) for h in details.get("highlights", [])][:12],
        plots=_plots(ws, details.get("plots", [])),
    )


def _status(control: Control, latest: list[KindView]) -> str:
    if not latest:
        return "not run" if control.implemented else "not implemented yet"
    verdicts = {k.verdict for k in latest}
    for v in ("fail", "warn"):
        if v in verdicts:
            return v
    return "pass"


def build_map(ws: Workspace, digests: set[str] | None = None) -> MapModel:
    """Read the ledger into the map model (optionally only evidence about ``digests``)."""
    ledger = Ledger(ws)
    try:
        report = verify_ledger(ledger)
        ok, message = True, f"{report.size} entries, every signature and checkpoint verified"
    except Error as exc:
        ok, message = False, exc.message
    entries = ledger.entries()
    if digests is not None:
        entries = [e for e in entries
                   if {s["sha256"] for s in e.summary()["subjects"]} & digests]
    cells = []
    for control in CONTROLS:
        mine = [e for e in entries if e.predicate.get("control") == control.id]
        latest: dict[str, Entry] = {}
        for e in mine:
            latest[_kind(e)] = e
        views = [_view(ws, e) for e in latest.values()]
        counts: dict[str, int] = {}
        for v in views:
            for f in v.findings:
                counts[f.get("severity", "info")] = counts.get(f.get("severity", "info"), 0) + 1
        cells.append(Cell(control, _status(control, views), len(mine), views, counts))
    return MapModel(
        workspace=ws.name, generated=datetime.now(UTC).isoformat(timespec="seconds"),
        ledger_size=ledger.size(), ledger_ok=ok, ledger_message=message,
        checkpoint=ledger.latest_checkpoint() or "", cells=cells,
    )


def render(model: MapModel) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("cpmap.formats", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    env.filters["num"] = _num
    return env.get_template("report.html.j2").render(m=model, version=__version__)


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_report(ws: Workspace, out_dir: Path, model: MapModel | None = None) -> Path:
    """Write ``out_dir/index.html`` and return its path."""
    page = render(model or build_map(ws))
    path = out_dir / "index.html"
    atomic_write(path, page.encode())
    return path
