"""OpenSSF model-signing bundles: written by cpmap, verified by the OpenSSF library."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpmap.core.workspace import Workspace
from cpmap.errors import VerificationFailed
from cpmap.registry.sigstore import sign_bundle, verify_bundle
from cpmap.registry.versions import register

pytest.importorskip("model_signing")


def test_bundle_verifies_and_catches_changes(ws: Workspace, tmp_path: Path) -> None:
    model = tmp_path / "deploy" / "m.safetensors"
    model.parent.mkdir()
    model.write_bytes(b"weights" * 100)
    mv = register(ws, "clf", model).version
    info = sign_bundle(ws, mv, tmp_path / "m.sig")
    pub = Path(info["public_key"])
    assert (ws.dir / "keys" / "model-signing.pem").stat().st_mode & 0o777 == 0o600
    verify_bundle(model, tmp_path / "m.sig", pub)
    model.write_bytes(b"tampered")
    with pytest.raises(VerificationFailed):
        verify_bundle(model, tmp_path / "m.sig", pub)


def test_cli_register_with_bundle(ws: Workspace, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    (ws.root / "m.bin").write_bytes(b"w")
    r = subprocess.run([sys.executable, "-m", "cpmap", "registry", "register", "clf", "--model",
                        "m.bin", "--sigstore-bundle", "m.sig", "-f", "json"], cwd=ws.root,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["created"] and out["version"] == 1
    assert (ws.root / "m.sig").is_file()
    r = subprocess.run([sys.executable, "-m", "cpmap", "registry", "verify", "clf"],
                       cwd=ws.root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0
    (ws.objects_dir / "sha256" / out["digest"]).chmod(0o644)
    (ws.objects_dir / "sha256" / out["digest"]).write_bytes(b"x")
    r = subprocess.run([sys.executable, "-m", "cpmap", "registry", "verify", "clf@1"],
                       cwd=ws.root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "altered" in r.stderr
