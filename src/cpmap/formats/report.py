"""The Control Points Map: five phases by ten controls, built from the ledger's evidence.

For the whole workspace, each cell's status comes from the latest evidence of each kind for that
control: ``fail`` if any failed, ``warn`` if any warned, ``pass`` if all passed, ``not run`` when
the control is implemented but has no evidence yet, ``not implemented yet`` otherwise. For one
model version (:func:`build_version_map`) the status is the gate's (``pass``, ``fail``,
``missing``, ``not-required``) with its reasons, and the page adds the lineage graph. The page
is one self-contained HTML file (inline CSS, plots as data URIs, no scripts from anywhere).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cpmap._version import __version__
from cpmap.controls import PHASES, ControlPoint, all_controls
from cpmap.core.artifacts import load_object
from cpmap.core.ledger import Entry, Ledger, verify_ledger
from cpmap.core.predicate import Plot, Predicate
from cpmap.core.workspace import Workspace, atomic_write
from cpmap.errors import Error, InputError
from cpmap.gate.evidence import item_of

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
    control: ControlPoint
    status: str
    evidence: int = 0
    kinds: list[KindView] = field(default_factory=list)
    severity_counts: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # the gate's, in a version's report
    required: bool | None = None


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


def _plots(ws: Workspace, refs: Iterable[Plot]) -> list[dict[str, str]]:
    out = []
    for ref in refs:
        if not isinstance(ref, Plot):
            continue
        data = load_object(ws, ref.sha256)
        if data is None:
            continue
        out.append({"title": ref.title,
                    "uri": f"data:{ref.media_type};base64,{base64.b64encode(data).decode()}"})
    return out


def _label(key: str, p: Predicate) -> str:
    """A metric computed on private rows without noise (a predicate's typed ``non_private``
    field: DP-SGD training, synthetic-data evaluation) is marked as such."""
    private = getattr(p, "non_private", ())
    return f"{key} (non-private)" if any(key == n or key.startswith(n + "@")
                                         for n in private) else key


def _view(ws: Workspace, entry: Entry) -> KindView:
    """A cell's view of one entry, from its typed predicate (read from the signed envelope)."""
    item = item_of(entry)
    p = item.predicate
    return KindView(
        kind=item.kind, index=entry.index, verdict=item.verdict,
        created_at=entry.created_at[:19].replace("T", " "),
        subjects=[f"{n} sha256:{d[:12]}" for d, n in item.subjects.items()][:6],
        metrics={_label(k, p): v for k, v in p.metrics().items()
                 if isinstance(v, str | int | float | bool)},
        findings=[f.to_dict() for f in p.findings][:MAX_FINDINGS],
        highlights=[str(h) for h in p.highlights][:12],
        plots=_plots(ws, p.plots),
    )


def _status(control: ControlPoint, latest: list[KindView]) -> str:
    if not latest:
        return "not run" if control.implemented else "not implemented yet"
    verdicts = {k.verdict for k in latest}
    for v in ("fail", "warn"):
        if v in verdicts:
            return v
    return "pass"


def _cell(ws: Workspace, control: ControlPoint, mine: list[Entry]) -> Cell:
    latest: dict[str, Entry] = {}
    for e in mine:
        latest[_kind(e)] = e
    views = [_view(ws, e) for e in latest.values()]
    counts: dict[str, int] = {}
    for v in views:
        for f in v.findings:
            counts[f.get("severity", "info")] = counts.get(f.get("severity", "info"), 0) + 1
    return Cell(control, _status(control, views), len(mine), views, counts)


def _ledger_state(ledger: Ledger) -> tuple[bool, str]:
    try:
        report = verify_ledger(ledger)
    except Error as exc:
        return False, exc.message
    return True, f"{report.size} entries, every signature and checkpoint verified"


def build_map(ws: Workspace, digests: set[str] | None = None) -> MapModel:
    """Read the ledger into the map model (optionally only evidence about ``digests``)."""
    ledger = Ledger(ws)
    ok, message = _ledger_state(ledger)
    entries = ledger.entries()
    if digests is not None:
        entries = [e for e in entries
                   if {s["sha256"] for s in e.summary()["subjects"]} & digests]
    cells = [_cell(ws, c, [e for e in entries if e.predicate.get("control") == c.id])
             for c in all_controls()]
    from cpmap.formats.version_sections import registry_section

    registry = registry_section(ws) if digests is None else None
    return MapModel(
        workspace=ws.name, generated=datetime.now(UTC).isoformat(timespec="seconds"),
        ledger_size=ledger.size(), ledger_ok=ok, ledger_message=message,
        checkpoint=ledger.latest_checkpoint() or "", cells=cells,
        extra_sections=[registry] if registry else [],
    )


def build_version_map(ws: Workspace, ref: str) -> MapModel:
    """The map of one model version: each cell's status is the gate's, from the evidence the
    gate verified about this version's digest and its training data."""
    from cpmap.formats.version_sections import sections
    from cpmap.gate.evaluate import evaluate
    from cpmap.registry.versions import get

    mv = get(ws, ref)
    result = evaluate(ws, mv)
    ledger = Ledger(ws)
    ok, message = _ledger_state(ledger)
    wanted = {i.index for c in result.controls for i in c.evidence if i.verified}
    entries = [e for e in ledger.entries() if e.index in wanted]
    cells = []
    for control in all_controls():
        gate = result.control(control.id)
        mine = {i.index for i in gate.evidence if i.verified}
        cell = _cell(ws, control, [e for e in entries if e.index in mine])
        cell.status, cell.reasons, cell.required = gate.status, list(gate.reasons), gate.required
        cells.append(cell)
    verdict = "gate passed" if result.passed else "gate FAILED"
    return MapModel(
        workspace=ws.name, generated=datetime.now(UTC).isoformat(timespec="seconds"),
        ledger_size=ledger.size(), ledger_ok=ok, ledger_message=message,
        checkpoint=ledger.latest_checkpoint() or "", cells=cells,
        subtitle=f"{mv.ref} · sha256:{mv.digest[:16]} · {verdict}",
        extra_sections=sections(ws, mv, result),
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
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: not a directory (--output names the report's directory)")
    try:
        atomic_write(path, page.encode())
    except OSError as e:  # e.g. --output names a file, or a directory we may not write
        raise InputError(f"{out_dir}: cannot write the report: {e.strerror}") from e
    return path


def write_version_report(ws: Workspace, ref: str, out_dir: Path) -> Path:
    """Write the Control Points Map of one model version to ``out_dir/index.html``."""
    return write_report(ws, out_dir, build_version_map(ws, ref))
