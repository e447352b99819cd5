"""The review queue mounted at /review on a real gateway: the same logins, CSRF tokens and
Content-Security-Policy as ``cpmap review serve``, and the gateway's own API untouched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.gateway.conftest import model_bytes, register_gated  # noqa: F401 - fixture
from tests.review.conftest import PASSWORD, seed

from cpmap.core.ledger import Ledger
from cpmap.review import queue


@pytest.fixture
def gateway(ws: Any, tmp_path: Path, model_bytes: bytes) -> Iterator[tuple[str, list[int]]]:  # noqa: F811
    from cpmap.gateway import build, run_in_thread
    from cpmap.gateway.config import load
    from cpmap.gateway.mount import mount_review

    register_gated(ws, tmp_path, model_bytes)
    ids = seed(ws)
    app = mount_review(ws, build(ws, "digits@1", load(ws, env={})))
    assert app.served.ref == "digits@1"  # still the gateway to its callers
    running = run_in_thread(app)
    try:
        yield running.url, ids
    finally:
        running.stop()


def test_log_in_and_decide_through_the_gateway(browser: Any, ws: Any, gateway: Any) -> None:
    url, ids = gateway
    page = browser.new_context().new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url + "/review")
    assert page.url == url + "/review/login"
    page.fill("#user", "alice")
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector("#claim")
    session = next(c for c in page.context.cookies() if c["name"] == "cpmap_review")
    assert session["path"] == "/review/" and session["httpOnly"] and session["secure"]
    page.click("#claim")
    page.wait_for_selector("#input")
    assert page.url.startswith(url + "/review/items/")
    width = page.eval_on_selector("#input", "img => img.decode().then(() => img.naturalWidth)")
    assert width == 128
    page.fill("#label", "3")
    page.click("#decide-label")
    page.wait_for_selector("#counts")
    assert page.url == url + "/review/"
    assert queue.get(ws, ids[0]).label == "3"
    decisions = Ledger(ws).entries(control="CP10", kind="review-decision")
    assert [e.predicate["metrics"]["item"] for e in decisions] == [ids[0]]
    assert decisions[0].predicate["details"]["reviewer"] == "alice"
    assert errors == []


def test_review_keeps_its_own_controls_and_the_api_its_own(gateway: Any) -> None:
    url, _ = gateway
    r = httpx.get(url + "/review/login")
    assert r.status_code == 200
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert "<script" not in r.text and 'action="/review/login"' in r.text
    cookie = r.headers["set-cookie"].lower()
    assert "path=/review/" in cookie and "secure" in cookie and "samesite=strict" in cookie
    forged = httpx.post(url + "/review/login", content="csrf=forged&user=alice&password=x",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    infer = httpx.post(url + "/v2/models/digits/infer", json={"inputs": []})
    assert infer.status_code == 401  # the gateway's own auth, no review session helps
    assert httpx.get(url + "/reviewer").status_code == 404  # only the prefix is mounted


def test_serve_review_with_workers_is_one_line_exit_2(ws: Any,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    from tests.retrain.conftest import run_cli

    code, _, err = run_cli(capsys, "serve", "digits", "--review", "--workers", "2",
                           "-w", str(ws.root))
    assert code == 2 and "--review serves the queue from one process" in err
    assert "Traceback" not in err


def test_cpmap_serve_review_mounts_the_queue(ws: Any, tmp_path: Path,
                                             model_bytes: bytes) -> None:  # noqa: F811
    """``cpmap serve NAME --review`` in its own process: the API and /review on one port."""
    import os
    import subprocess
    import sys
    import time

    from cpmap.gateway.server import free_socket

    register_gated(ws, tmp_path, model_bytes)
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "cpmap", "serve", "digits@1", "--review",
                             "--port", str(port), "-w", str(ws.root)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, page = time.monotonic() + 60, None
        while page is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                page = httpx.get(url + "/review/login")
            except httpx.TransportError:
                time.sleep(0.1)
        assert page is not None, proc.stderr.read() if proc.stderr else ""
        assert page.status_code == 200 and 'action="/review/login"' in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert httpx.get(url + "/v2/health/ready").status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert f"review queue on {url}/review/" in err
