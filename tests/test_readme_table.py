"""The README's map table is the control registry's: same controls, phases, titles, commands and
status, so the front door cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from cpmap.controls import all_controls

README = Path(__file__).resolve().parents[1] / "README.md"
ROW = re.compile(r"^\|\s*(\d) (\w+)\s*\|\s*\*\*(CP\d+)\*\* ([^|]+)\|([^|]*)\|([^|]+)\|$")


def _rows() -> dict[str, tuple[str, ...]]:
    rows = {}
    for line in README.read_text().splitlines():
        m = ROW.match(line.strip())
        if m:
            phase, phase_name, cp, title, commands, status = (g.strip() for g in m.groups())
            rows[cp] = (phase, phase_name, title, commands, status)
    return rows


def test_readme_table_matches_the_registry() -> None:
    rows = _rows()
    assert list(rows) == [c.id for c in all_controls()]
    for c in all_controls():
        phase, phase_name, title, commands, status = rows[c.id]
        assert (int(phase), phase_name) == (c.phase, c.phase_name), c.id
        assert title.lower() == c.title.lower(), c.id
        assert commands == ", ".join(f"`{cmd}`" for cmd in c.commands), c.id
        assert status == ("implemented" if c.implemented else "not implemented yet"), c.id
