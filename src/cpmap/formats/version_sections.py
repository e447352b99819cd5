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


MAX_VERSIONS = 20


def registry_section(ws: Workspace) -> dict[str, str] | None:
    """The workspace report's view of the registry: the latest versions, aliases and gate."""
    from cpmap.errors import Error
    from cpmap.gate.evaluate import evaluate
    from cpmap.registry.versions import aliases, list_versions

    try:
        versions = list_versions(ws)[-MAX_VERSIONS:]
    except Error as e:
        return {"id": "registry", "title": "Model registry",
                "html": f"<p class=\"sev-high\">{escape(e.message)}</p>"}
    if not versions:
        return None
    by_name = {v.name: aliases(ws, v.name) for v in versions}
    rows = []
    for v in versions:
        result = evaluate(ws, v)
        tags = ", ".join(a for a, n in by_name[v.name].items() if n == v.version)
        verdict = "pass" if result.passed else "fail"
        blocking = ", ".join(f"{c.control} {c.status}" for c in result.failing())
        rows.append(f"<tr><td>{escape(v.ref)}</td><td><code>{v.digest[:16]}</code></td>"
                    f"<td>{escape(tags)}</td><td><span class=\"badge {verdict}\">{verdict}"
                    f"</span> {escape(blocking)}</td></tr>")
    table = ("<table><tr><th>version</th><th>sha256</th><th>aliases</th><th>gate</th></tr>"
             + "".join(rows) + "</table><div class=\"summary\">The map of one version: "
             "<code>cpmap report NAME@VERSION</code>.</div>")
    return {"id": "registry", "title": "Model registry", "html": table}
