"""`cpmap demo` end to end: every implemented stage runs and the report shows all ten cells."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cpmap.controls import all_controls


@pytest.mark.slow
def test_demo_runs_and_writes_the_map(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "cpmap", "demo", "-w", str(tmp_path / "ws"),
                        "--report", str(tmp_path / "report")], capture_output=True, text=True,
                       timeout=900, env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    page = (tmp_path / "report" / "index.html").read_text()
    for c in all_controls():
        m = re.search(rf'id="cell-{c.id}" data-status="([^"]+)"', page)
        assert m, c.id
        if c.implemented:
            assert m.group(1) != "not implemented yet", c.id
            assert m.group(1) != "not run", f"{c.id} has no evidence after the demo"
    assert "Ledger verified" in page
    v = subprocess.run([sys.executable, "-m", "cpmap", "ledger", "verify", "-w",
                        str(tmp_path / "ws")], capture_output=True, text=True, timeout=300)
    assert v.returncode == 0, v.stderr
