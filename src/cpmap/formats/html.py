"""HTML for findings lists (``--format html``); the full map is in :mod:`cpmap.formats.report`."""

from __future__ import annotations

from collections.abc import Sequence

from cpmap.core.findings import Finding


def findings_page(findings: Sequence[Finding], title: str = "Findings") -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("cpmap.formats", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    rows = [f.to_dict() for f in findings]
    return env.get_template("findings.html.j2").render(title=title, findings=rows)
