"""``kill -9`` of ``cpmap watch`` during a retraining run: nothing half-written. The ledger
verifies, every registered version verifies whole, production is untouched, and the next
watch finishes the interrupted run as ``failed`` with signed evidence (once)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.retrain.kit import CAMPAIGN, GATE_ENV, production_project

pytestmark = pytest.mark.slow


def _campaign_toml() -> str:
    lines = []
    for attack, settings in CAMPAIGN.items():
        lines.append(f"\n[retraining.campaign.{attack}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """digits@1 in production, the campaign in cpmap.toml (the watch is another process)."""
    import tomllib

    proj = production_project(tmp_path_factory.mktemp("watchkill"))
    toml = proj / ".cpmap" / "cpmap.toml"
    toml.write_text(toml.read_text() + _campaign_toml())
    assert tomllib.loads(toml.read_text())["retraining"]["campaign"] == CAMPAIGN
    return proj


def _env() -> dict[str, str]:
    return {**os.environ, **GATE_ENV, "PYTHONPATH": os.pathsep.join(sys.path),
            "CPMAP_RETRAINING_SCHEDULE": "0 3 1 1 *", "COLUMNS": "400"}


def _watch(root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "cpmap", "watch", "digits", "--once",
                             "-w", str(root), "-f", "json"], env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _runs(root: Path) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from cpmap.core.workspace import open_workspace
    from cpmap.retrain.tables import retrain_runs

    ws = open_workspace(root)
    try:
        with ws.store.read() as conn:
            return [(str(r[0]), str(r[1])) for r in conn.execute(
                select(retrain_runs.c.run_id, retrain_runs.c.status))]
    finally:
        ws.close()


def _kill_when(proc: subprocess.Popen[str], root: Path, marker: str | None) -> str:
    """SIGKILL ``proc`` once its run is ``running`` and, with ``marker``, once its log has
    printed ``marker``; return the log read so far."""
    lines: list[str] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        running = any(s == "running" for _, s in _runs(root))
        if running and (marker is None or any(marker in ln for ln in lines)):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "".join(lines)  # still mid-run when killed
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    return "".join(lines)


def _intact(root: Path) -> Any:
    """The ledger, every version of digits and the production alias, checked."""
    from cpmap.core.workspace import open_workspace
    from cpmap.registry.versions import get, list_versions, verify

    r = subprocess.run([sys.executable, "-m", "cpmap", "ledger", "verify", "--all-signatures",
                        "-w", str(root)], env=_env(), capture_output=True, text=True,
                       timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    ws = open_workspace(root)
    try:
        versions = list_versions(ws, "digits")
        for mv in versions:
            assert verify(ws, mv).ok, (mv.ref, verify(ws, mv))
        assert get(ws, "digits@production").version == 1
        return [mv.version for mv in versions]
    finally:
        ws.close()


@pytest.mark.parametrize("marker", [None, "trained "], ids=["training", "after-training"])
def test_kill9_of_watch_mid_run_then_the_next_watch_fails_it(base: Path, tmp_path: Path,
                                                           marker: str | None) -> None:
    root = tmp_path / "proj"
    shutil.copytree(base, root)
    log = _kill_when(_watch(root), root, marker)
    [(run_id, status)] = _runs(root)
    assert status == "running", log
    versions = _intact(root)  # nothing half-written: whatever exists verifies whole

    again = _watch(root)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "Traceback" not in err
    done = json.loads(out)
    assert [(d["run_id"], d["status"]) for d in done] == [(run_id, "failed")], done
    assert "interrupted" in done[0]["gate_reasons"][0]
    assert _runs(root) == [(run_id, "failed")]
    assert _intact(root) == versions  # the candidate, if registered, stays; never promoted

    from cpmap.core.ledger import Ledger
    from cpmap.core.workspace import open_workspace

    ws = open_workspace(root)
    try:
        [entry] = Ledger(ws).entries(control="CP10", kind="retrain-run")
        assert entry.predicate["details"]["run_id"] == run_id
        assert entry.predicate["details"]["status"] == "failed"
    finally:
        ws.close()
    third = _watch(root)  # the slot was taken by the interrupted run: nothing more to do
    out, err = third.communicate(timeout=600)
    assert third.returncode == 0 and json.loads(out) == [], err
