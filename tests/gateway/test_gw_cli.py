"""``cpmap gateway key ...`` and ``cpmap serve`` through the CLI: keys shown once, evidence
recorded, ungated versions refused before any port opens."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from cpmap.core.ledger import Ledger

from .conftest import register_gated, rows
from .conftest import run_cli as _cli


def test_key_create_list_revoke(ws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    w = str(ws.root)
    code, out, err = _cli(capsys, "gateway", "key", "create", "alice", "--scope",
                          "infer:digits", "--rate", "5/second", "--budget", "100/day",
                          "--output", "top-k:3", "--format", "json", "-w", w)
    assert code == 0, err
    made = json.loads(out)
    assert made["client"] == "alice" and made["key"].startswith("cpk_")
    assert made["scopes"] == ["infer:digits"] and made["output"] == "top-k:3"
    code, out, _ = _cli(capsys, "gateway", "key", "list", "-f", "json", "-w", w)
    listed = json.loads(out)
    assert [k["client"] for k in listed] == ["alice"] and made["key"] not in out
    db = (ws.dir / "store.db").read_bytes()
    assert made["key"].encode() not in db and made["key"].split("_")[2].encode() not in db
    code, _, err = _cli(capsys, "gateway", "key", "revoke", "alice", "-w", w)
    assert code == 0 and "revoked 1" in err
    code, _, err = _cli(capsys, "gateway", "key", "revoke", "alice", "-w", w)
    assert code == 2 and "no live API key" in err
    kinds = [(e.summary()["kind"], e.predicate["details"]["action"])
             for e in Ledger(ws).entries(kind="gateway-key")]
    assert kinds == [("gateway-key", "create"), ("gateway-key", "revoke")]
    assert made["key"] not in json.dumps([e.statement for e in Ledger(ws).entries()])


@pytest.mark.parametrize("bad", [["--scope", "admin"], ["--rate", "lots"],
                                 ["--output", "top-k:0"], ["--budget", "5/fortnight"]])
def test_key_create_refuses_bad_input(ws: Any, capsys: pytest.CaptureFixture[str],
                                      bad: list[str]) -> None:
    code, out, err = _cli(capsys, "gateway", "key", "create", "bob", *bad, "-w", str(ws.root))
    assert code == 2 and err.startswith("cpmap: error:") and "Traceback" not in err
    assert not Ledger(ws).entries(kind="gateway-key")


def test_serve_refuses_a_version_failing_the_gate(ws: Any, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   model_bytes: bytes) -> None:
    from cpmap.registry.versions import register

    p = tmp_path / "m.safetensors"
    p.write_bytes(model_bytes)
    register(ws, "bare", p)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = _cli(capsys, "serve", "bare@1", "--port", str(port), "-w", str(ws.root))
    assert code == 1
    assert "the gate fails" in err and "CP1 missing" in err and "CP4 missing" in err
    assert not Ledger(ws).entries(kind="gateway-serve")
    code, _, err = _cli(capsys, "serve", "bare", "-w", str(ws.root))  # no production stage
    assert code == 2 and "bare@production" in err


def test_unsafe_allow_ungated_is_recorded(ws: Any, tmp_path: Path, model_bytes: bytes) -> None:
    from cpmap.gateway import build
    from cpmap.registry.versions import register

    p = tmp_path / "m.safetensors"
    p.write_bytes(model_bytes)
    register(ws, "bare", p)
    app = build(ws, "bare@1", allow_ungated=True)
    assert not app.served.gate_passed
    (entry,) = Ledger(ws).entries(kind="gateway-serve")
    assert entry.predicate["verdict"] == "warn"
    assert entry.predicate["metrics"]["unsafe_allow_ungated"] is True
    assert any("CP4" in r for r in entry.predicate["details"]["reasons"])


def test_serve_a_production_version_end_to_end(ws: Any, tmp_path: Path,
                                               model_bytes: bytes) -> None:
    """The real command in a subprocess: production stage, key, infer, then stopped."""
    from cpmap.gateway.keys import create
    from cpmap.registry.stages import promote

    register_gated(ws, tmp_path, model_bytes)
    promote(ws, "digits@1")
    key = create(ws, "alice", ["infer:digits"])[0]
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    port, mport = ports
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPMAP_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    proc = subprocess.Popen([sys.executable, "-m", "cpmap", "serve", "digits", "--port",
                             str(port), "--metrics-port", str(mport), "-w", str(ws.root)],
                            env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).is_success:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        r = httpx.post(f"{url}/v2/models/digits/infer", json=rows(),
                       headers={"X-API-Key": key}, timeout=10)
        assert r.status_code == 200 and r.json()["model_version"] == "1"
        text = httpx.get(f"http://127.0.0.1:{mport}/metrics", timeout=10).text
        assert 'cpmap_gateway_requests_total{code="200",route="infer"} 1.0' in text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert "serving digits@1" in err and "Traceback" not in err
    assert Ledger(ws).entries(kind="gateway-serve")[0].predicate["verdict"] == "pass"
    (batch,) = Ledger(ws).entries(kind="gateway-predictions")  # flushed at shutdown
    assert batch.predicate["metrics"]["entries"] == 1


def test_reload_rechecks_the_digest_and_follows_the_stage(ws: Any, tmp_path: Path,
                                                          model_bytes: bytes) -> None:
    from cpmap.gateway import build
    from cpmap.gateway.errors import ServeRefused
    from cpmap.registry.stages import promote

    v1 = register_gated(ws, tmp_path, model_bytes)
    promote(ws, v1.ref)
    app = build(ws, "digits")
    obj = ws.objects_dir / "sha256" / v1.digest
    original = obj.read_bytes()
    obj.chmod(0o644)
    obj.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(ServeRefused, match="does not match its signed digest"):
        app.reload()
    assert app.served.ref == "digits@1"  # still the verified version
    obj.write_bytes(original)
    (tmp_path / "v2").mkdir()
    from cpmap.models.persist import load_bytes
    from cpmap.models.persist import model_bytes as to_bytes

    model = load_bytes(model_bytes, "v1")
    model.meta["packaging"] = "v2"  # type: ignore[attr-defined]
    v2 = register_gated(ws, tmp_path / "v2", to_bytes(model)[0])
    promote(ws, v2.ref)
    assert app.reload().ref == "digits@2" and app.served.version == 2


def test_a_port_in_use_is_refused_before_anything_is_recorded(
        ws: Any, gated: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        code, _, err = _cli(capsys, "serve", "digits@1", "--port", str(s.getsockname()[1]),
                            "-w", str(ws.root))
    assert code == 2 and "cannot listen" in err
    assert not Ledger(ws).entries(kind="gateway-serve")
