"""Markdown tables for findings and records (PR comments, CI summaries)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from cpmap.core.findings import Finding


def _cell(value: Any) -> str:
    # text, never markup: a finding's message may quote a scanned file's content
    return html.escape(str(value), quote=False).replace("|", "\\|").replace("\n", " ")


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "_none_\n"
    cols = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def findings(items: Sequence[Finding], title: str = "Findings") -> str:
    rows = [{"severity": f.severity.value, "rule": f.rule_id, "location": str(f.location),
             "message": f.message, "remediation": f.remediation} for f in items]
    return f"## {html.escape(title, quote=False)}\n\n" + table(rows)
