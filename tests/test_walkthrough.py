"""The README's "Use it on your project" walk-through, run command by command from its text.

Each ``$ `` line of the section's console block runs here in process (``cpmap`` through
``cpmap.cli.main``, ``python X.py`` through ``runpy``) in a temporary copy of
``examples/credit``, so the documented commands cannot drift from what cpmap does. Only the
``pip install`` line is not run (the test already runs inside an installed cpmap), and
``cpmap osv fetch`` downloads from a server on 127.0.0.1 serving a small export (tests are
offline).
"""

from __future__ import annotations

import io
import runpy
import shlex
import shutil
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cpmap.cli import main

ROOT = Path(__file__).parents[1]
SAMPLE = ROOT / "src" / "cpmap" / "supplychain" / "data" / "osv-sample"


def walkthrough() -> list[list[str]]:
    """The section's commands: one argv per ``$`` line and per ``&&`` part."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use it on your project", 1)[1].split("\n## ", 1)[0]
    block = section.split("```console", 1)[1].split("```", 1)[0]
    commands: list[list[str]] = []
    for line in block.splitlines():
        if not line.startswith("$ "):
            continue
        words = shlex.split(line[2:], comments=True)
        while "&&" in words:
            at = words.index("&&")
            commands.append(words[:at])
            words = words[at + 1:]
        commands.append(words)
    return commands


class _Export(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def osv_mirror() -> Iterator[str]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for p in sorted(SAMPLE.glob("*.json")):
            z.writestr(p.name, p.read_bytes())
    _Export.body = buf.getvalue()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Export)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _cpmap(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def _run(words: list[str], tmp_path: Path, mp: pytest.MonkeyPatch) -> int | None:
    """Run one documented command; None for the one that is not run (pip)."""
    head = words[0]
    if head == "pip":
        return None
    if head == "cd":
        target = tmp_path / Path(words[1]).name
        shutil.copytree(ROOT / words[1], target, ignore=shutil.ignore_patterns(
            ".cpmap", "cpmap-report", "data", "model.skops", "*.att.json", "MODEL_CARD.md"))
        mp.chdir(target)
        return 0
    if head == "python":
        mp.setattr(sys, "argv", words[1:])
        runpy.run_path(words[1], run_name="__main__")
        return 0
    if head == "export":
        for pair in words[1:]:
            key, _, value = pair.partition("=")
            mp.setenv(key, value)
        return 0
    assert head == "cpmap", f"the walk-through runs an unknown program: {words}"
    return _cpmap(words[1:])


def test_the_walkthrough_commands_are_the_ones_tested() -> None:
    heads = [c[0] for c in walkthrough()]
    assert heads[0] == "pip" and "cd" in heads
    runs = [" ".join(c[:3]) for c in walkthrough() if c[0] == "cpmap"]
    for step in ("cpmap init", "cpmap data register", "cpmap data sign", "cpmap scan deps",
                 "cpmap registry register", "cpmap robustness evaluate", "cpmap redteam run",
                 "cpmap gate credit@1", "cpmap registry promote", "cpmap gateway check",
                 "cpmap report credit@1"):
        assert any(r.startswith(step) for r in runs), step


@pytest.mark.slow
def test_the_readme_walkthrough_runs_unchanged(tmp_path: Path, osv_mirror: str,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CPMAP_SUPPLYCHAIN_OSV_URL", osv_mirror)
    own = None
    for words in walkthrough():
        code = _run(words, tmp_path, monkeypatch)
        out = capsys.readouterr()
        assert code in (0, None), f"{' '.join(words)}: exit {code}\n{out.err[-3000:]}"
        if words[:2] == ["python", "train.py"]:
            own = out.out.split("held-out accuracy ")[1].split()[0]
        if words[:2] == ["cpmap", "gate"]:
            assert "gate passed" in out.err + out.out
        if words[:3] == ["cpmap", "gateway", "check"]:
            assert "missing-column" in out.out and "unknown-category" in out.out
            assert "checks passed" in out.err
        if words[:3] == ["cpmap", "robustness", "evaluate"]:
            assert "black-box attacks (Square, HopSkipJump)" in out.err
            assert f"clean accuracy {own}" in out.out  # the model's own score, same rows
    project = Path.cwd()
    from cpmap.core.workspace import open_workspace
    from cpmap.registry.versions import get

    assert get(open_workspace(project), "credit:production").version == 1  # gated, promoted
    assert (project / "cpmap-report").is_dir()
    assert not (project / ".hypothesis").exists()  # scratch stays under .cpmap/tmp
