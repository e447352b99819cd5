"""Terminal tables (rich) for records and findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cpmap.core.findings import Finding

_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan",
          "info": "dim", "pass": "green", "fail": "bold red", "warn": "yellow",
          "missing": "red", "safe": "green", "suspicious": "yellow", "malicious": "bold red"}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def render(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
           title: str | None = None, console: Console | None = None) -> None:
    out = console or Console()
    if not rows:
        out.print(f"{title + ': ' if title else ''}nothing to show")
        return
    cols = list(columns or rows[0].keys())
    t = Table(title=title, show_lines=False)
    for c in cols:
        t.add_column(c, overflow="fold")
    for r in rows:
        cells = []
        for c in cols:
            text = _fmt(r.get(c))
            style = _STYLE.get(text) if c in {"severity", "verdict", "status"} else None
            cells.append(Text(text, style=style or ""))
        t.add_row(*cells)
    out.print(t)


def findings(items: Sequence[Finding], title: str = "Findings",
             console: Console | None = None) -> None:
    rows = [{"severity": f.severity.value, "rule": f.rule_id, "location": str(f.location),
             "message": f.message} for f in items]
    render(rows, title=title, console=console)
