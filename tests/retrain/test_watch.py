"""``cpmap watch --once`` with real triggers (a failing CP9 drift entry, a due schedule) on
SQLite and PostgreSQL: one run per trigger however often it runs, and two workers started at
once never run one model twice at the same time (the file lock / the advisory lock).

The production version here carries no ``cpmap train`` recipe, so each run stops at the
recipe step, quickly and for real: the trigger, the run lock, the run's row and its signed
``retrain-run`` entry are what these tests are about (tests/retrain/test_pipeline.py trains).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.gateway.conftest import model_bytes, register_gated  # noqa: F401 - fixture
from tests.retrain.conftest import run_cli

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.ledger import Ledger

WEEKLY = "0 3 * * 0"  # its last slot stays put for a week: reruns see the same trigger


def _production(ws: Any, tmp_path: Path, data: bytes) -> Any:
    from cpmap.registry.stages import promote

    mv = register_gated(ws, tmp_path, data)
    promote(ws, mv.ref)
    return mv


def _drift_alert(ws: Any, mv: Any) -> int:
    finding = Finding("CP9-DRIFT", Severity.HIGH, "input drift on 12 of 64 features",
                      Location("digits"), "retrain")
    return record(Evidence("CP9", "drift", [Subject(f"model:{mv.ref}", mv.digest)],
                           Verdict.FAIL, findings=[finding]), ws).index


def _runs(ws: Any) -> list[dict[str, Any]]:
    from cpmap.retrain.pipeline import history

    return history(ws, "digits")


def _trigger_keys(ws: Any) -> list[str]:
    return [e.predicate["details"]["key"]
            for e in Ledger(ws).entries(control="CP10", kind="retrain-trigger")]


@pytest.fixture
def watched(any_ws: Any, tmp_path: Path, model_bytes: bytes,  # noqa: F811
            monkeypatch: pytest.MonkeyPatch) -> tuple[Any, int]:
    """Production digits@1, one failing drift entry about it, a weekly schedule."""
    from cpmap.core import config as cfg

    mv = _production(any_ws, tmp_path, model_bytes)
    monkeypatch.setenv("CPMAP_RETRAINING_SCHEDULE", WEEKLY)
    any_ws.config.clear()
    any_ws.config.update(cfg.load(any_ws.dir / "cpmap.toml"))
    return any_ws, _drift_alert(any_ws, mv)


def test_watch_once_runs_each_trigger_once(watched: Any,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    ws, drift = watched
    w = ("-w", str(ws.root), "-f", "json")
    code, out, err = run_cli(capsys, "watch", "--once", *w)
    assert code == 1, err  # both runs stop at the recipe step, and say so
    assert json.loads(out) == []
    assert f"drift trigger drift:#{drift}" in err and "schedule trigger schedule:digits:" in err
    assert err.count("holds no training configuration") == 2 and "Traceback" not in err
    keys = _trigger_keys(ws)
    assert keys[0] == f"drift:#{drift}" and keys[1].startswith("schedule:digits:")
    runs = _runs(ws)
    assert [r["status"] for r in runs] == ["failed", "failed"]
    assert sorted(r["trigger_key"] for r in runs) == sorted(keys)
    recorded = Ledger(ws).entries(control="CP10", kind="retrain-run")
    assert [e.predicate["verdict"] for e in recorded] == ["fail", "fail"]

    code, out, err = run_cli(capsys, "watch", "--once", *w)  # a rerun: nothing new
    assert code == 0 and json.loads(out) == [] and "trigger" not in err
    assert len(_runs(ws)) == 2 and _trigger_keys(ws) == keys

    later = _drift_alert(ws, ws_version(ws))  # a new alert is a new trigger
    code, _, err = run_cli(capsys, "watch", "--once", *w)
    assert f"drift:#{later}" in err and len(_runs(ws)) == 3


def ws_version(ws: Any) -> Any:
    from cpmap.registry.versions import get

    return get(ws, "digits@production")


HOLD = """
import os, sys, time
from pathlib import Path
from cpmap.retrain import pipeline

real, gate = pipeline._run, Path(sys.argv[1])

def held(*args, **kw):  # hold the run lock until the test opens the gate
    (gate.parent / f"running-{os.getpid()}-{time.monotonic_ns()}").touch()
    deadline = time.monotonic() + 120
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return real(*args, **kw)

pipeline._run = held
from cpmap.cli import main
main(["watch", "--once", "-w", sys.argv[2], "-f", "json"])
"""


def _worker(script: Path, gate: Path, root: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    return subprocess.Popen([sys.executable, str(script), str(gate), str(root)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(cond: Any, what: str, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_two_workers_at_once_never_run_a_model_twice(watched: Any, tmp_path: Path) -> None:
    ws, drift = watched
    script, gate = tmp_path / "hold.py", tmp_path / "gate" / "open"
    gate.parent.mkdir()
    script.write_text(HOLD)
    first = _worker(script, gate, ws.root)
    _wait_for(lambda: any(gate.parent.glob("running-*")), "the first worker's run")
    second = _worker(script, gate, ws.root)  # it finds the schedule pending, and the lock held
    out2, err2 = second.communicate(timeout=120)
    assert second.returncode == 0, err2
    assert json.loads(out2) == [] and "another retraining run holds" in err2
    assert "left for that worker" in err2
    gate.touch()
    out1, err1 = first.communicate(timeout=120)
    assert first.returncode == 1, err1  # its two runs stop at the recipe step
    held = sorted(gate.parent.glob("running-*"))
    assert len(held) == 2 and len({p.name.split("-")[1] for p in held}) == 1  # one process
    assert str(first.pid) == held[0].name.split("-")[1]
    runs = _runs(ws)
    assert len(runs) == 2 and len({r["trigger_key"] for r in runs}) == 2
    assert _trigger_keys(ws)[0] == f"drift:#{drift}"
