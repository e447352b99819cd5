"""Extra sections of a model version's report: the gate verdict and the lineage graph."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from cpmap.formats.lineage_svg import Node, render

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.gate.evaluate import GateResult
    from cpmap.registry.manifest import ModelVersion


def lineage_svg(mv: ModelVersion, result: GateResult) -> str:
    scope = result.scope
    cp1 = result.control("CP1").status
    nodes = {d: Node(d, f"data {scope.name(d)}", d, cp1 if d in scope.datasets else "info")
             for d in scope.data}
    model = Node(mv.digest, f"model {mv.ref}", mv.digest, "pass" if result.passed else "fail")
    below = []
    if mv.lineage.parent:
        p = mv.lineage.parent
        below.append(Node(str(p["digest"]), f"parent {p['name']}@{p['version']}",
                          str(p["digest"]), "info"))
    if mv.lineage.sbom:
        below.append(Node(mv.lineage.sbom, "environment SBOM", mv.lineage.sbom,
                          result.control("CP3").status))
    return render(model, scope.datasets, scope.parents, nodes, below)


def sections(ws: Workspace, mv: ModelVersion, result: GateResult) -> list[dict[str, str]]:
    verdict = "passed" if result.passed else "failed"
    blocking = ", ".join(f"{c.control} ({c.status})" for c in result.failing()) or "none"
    git = mv.lineage.git or {}
    facts = [f"model <b>{escape(mv.ref)}</b> sha256:<code>{escape(mv.digest)}</code>",
             f"gate <span class=\"badge {'pass' if result.passed else 'fail'}\">{verdict}</span>"
             f" · blocking: {escape(blocking)}",
             f"registered {escape(mv.created_at)} · ledger #{mv.entry}"
             + (f" · commit {escape(str(git.get('commit', ''))[:12])}" if git else "")]
    gate_html = "<ul class=\"hl\">" + "".join(f"<li>{f}</li>" for f in facts) + "</ul>"
    graph = ("<div class=\"lineage\">" + lineage_svg(mv, result) + "</div>"
             "<div class=\"summary\">Training data and its recorded CP1 ancestors (left) lead "
             "to the model version (right); the parent version and the environment SBOM hang "
             "below. Border colours: the gate status of CP1 (data) and of the gate (model).</div>")
    return [{"id": "gate-summary", "title": "Gate", "html": gate_html},
            {"id": "lineage", "title": "Lineage", "html": graph}]
