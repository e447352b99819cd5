"""Registry versions: content addressing, immutability, lineage, signed manifests."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import update

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace
from cpmap.errors import InputError, SignatureError, VerificationFailed
from cpmap.provenance.fingerprint import fingerprint
from cpmap.registry.artifact import materialize
from cpmap.registry.tables import model_versions
from cpmap.registry.versions import get, list_versions, register, verify


def _file(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def test_register_is_content_addressed_and_idempotent(ws: Workspace, tmp_path: Path) -> None:
    path = _file(tmp_path, "m.safetensors", b"weights")
    first = register(ws, "clf", path)
    assert first.created and first.version.version == 1
    assert first.version.digest == hashlib.sha256(b"weights").hexdigest()
    assert (ws.objects_dir / "sha256" / first.version.digest).read_bytes() == b"weights"
    again = register(ws, "clf", path)
    assert not again.created and again.version.version == 1
    entry = Ledger(ws).get(first.version.entry)
    assert entry.summary()["kind"] == "registry-version"
    assert entry.summary()["control"] == "CP6"


def test_versions_are_immutable(ws: Workspace, tmp_path: Path) -> None:
    register(ws, "clf", _file(tmp_path, "a.bin", b"one"))
    with pytest.raises(InputError, match="immutable"):
        register(ws, "clf", _file(tmp_path, "b.bin", b"two"), version=1)
    assert [v.version for v in list_versions(ws)] == [1]
    second = register(ws, "clf", tmp_path / "b.bin").version
    assert second.version == 2
    assert second.lineage.parent == {"name": "clf", "version": 1,
                                     "digest": hashlib.sha256(b"one").hexdigest()}


def test_directory_digest_matches_cp1_and_round_trips(ws: Workspace, tmp_path: Path) -> None:
    d = tmp_path / "model"
    (d / "sub").mkdir(parents=True)
    (d / "weights.safetensors").write_bytes(b"w" * 1000)
    (d / "sub" / "spec.json").write_text('{"arch": "mlp"}')
    mv = register(ws, "dirmodel", d).version
    assert mv.digest == fingerprint(d).digest
    assert mv.artifact.kind == "tree" and len(mv.artifact.files) == 2
    out = materialize(ws, mv.artifact, tmp_path / "restored")
    assert fingerprint(out).digest == mv.digest


def test_lineage_records_datasets_git_and_evidence(ws: Workspace, tmp_path: Path) -> None:
    from cpmap.provenance.datasets import register_dataset

    data = _file(tmp_path, "train.csv", b"a,b\n1,2\n")
    dv = register_dataset(ws, "train", data, source="builtin:test")
    mv = register(ws, "clf", _file(tmp_path, "m.bin", b"w"), datasets=[dv.ref],
                  training={"epochs": 3, "seed": 0}).version
    assert [d.digest for d in mv.lineage.datasets] == [dv.digest]
    assert mv.lineage.training == {"epochs": 3, "seed": 0}
    assert mv.lineage.git is None  # tmp_path is not a git repository
    with pytest.raises(InputError, match="not registered"):
        register(ws, "clf", tmp_path / "m.bin", datasets=["nope"])


def test_git_commit_is_recorded(ws: Workspace, tmp_path: Path) -> None:
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        pytest.skip("git not installed")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": "/tmp"}
    (ws.root / "train.py").write_text("print(1)\n")
    for args in (["init", "-q"], ["add", "train.py"], ["commit", "-q", "-m", "x"]):
        subprocess.run([git, "-C", str(ws.root), *args], check=True, env=env)
    head = subprocess.run([git, "-C", str(ws.root), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True, env=env).stdout.strip()
    mv = register(ws, "clf", _file(tmp_path, "m.bin", b"w")).version
    assert mv.lineage.git == {"commit": head, "dirty": False}


def test_edited_row_is_refused_on_load(ws: Workspace, tmp_path: Path) -> None:
    mv = register(ws, "clf", _file(tmp_path, "m.bin", b"w")).version
    with ws.store.write() as conn:
        conn.execute(update(model_versions).values(digest="0" * 64))
    with pytest.raises(SignatureError, match="does not match its signed manifest"):
        get(ws, mv.ref)
    with ws.store.read() as conn:
        env = json.loads(conn.execute(model_versions.select()).one().manifest)
    stmt = json.loads(base64.b64decode(env["payload"]))
    stmt["predicate"]["lineage"]["datasets"] = [{"name": "forged", "digest": "1" * 64}]
    env["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    with ws.store.write() as conn:
        conn.execute(update(model_versions).values(digest=mv.digest, manifest=json.dumps(env)))
    with pytest.raises(SignatureError, match="signature does not verify"):
        get(ws, mv.ref)
    with ws.store.write() as conn:
        conn.execute(update(model_versions).values(manifest="{not json"))
    with pytest.raises(SignatureError, match="not a DSSE envelope"):
        get(ws, mv.ref)


def test_verify_finds_altered_objects_and_wrong_copies(ws: Workspace, tmp_path: Path) -> None:
    mv = register(ws, "clf", _file(tmp_path, "m.bin", b"weights")).version
    assert verify(ws, mv).ok
    assert verify(ws, mv, tmp_path / "m.bin").ok
    assert not verify(ws, mv, _file(tmp_path, "other.bin", b"x")).ok
    obj = ws.objects_dir / "sha256" / mv.digest
    obj.chmod(0o644)
    obj.write_bytes(b"evil")
    result = verify(ws, mv)
    assert not result.ok and "altered" in result.problems[0]
    with pytest.raises(VerificationFailed):
        materialize(ws, mv.artifact, tmp_path / "out")


@pytest.mark.parametrize("bad", ["", "-x", "a b", "a/b", "x" * 201])
def test_bad_names_are_refused(ws: Workspace, tmp_path: Path, bad: str) -> None:
    with pytest.raises(InputError):
        register(ws, bad, _file(tmp_path, "m.bin", b"w"))


def test_missing_artifact_and_symlink(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such"):
        register(ws, "clf", tmp_path / "absent.bin")
    target = _file(tmp_path, "real.bin", b"w")
    (tmp_path / "link.bin").symlink_to(target)
    with pytest.raises(InputError, match="symbolic link"):
        register(ws, "clf", tmp_path / "link.bin")
    assert list_versions(ws) == []


@pytest.mark.parametrize(("setup", "message"), [
    ("empty-file", "model file is empty"),
    ("empty-dir", "model directory holds no files"),
    ("missing-sbom", "cannot read SBOM"),
    ("garbage-sbom", "SBOM is not valid JSON"),
    ("other-json-sbom", "not a CycloneDX SBOM"),
    ("huge-version", "versions are numbered up to"),
])
def test_bad_registrations_change_nothing(ws: Workspace, tmp_path: Path, setup: str,
                                          message: str) -> None:
    model, sbom, version = _file(tmp_path, "m.bin", b"weights"), None, None
    if setup == "empty-file":
        model = _file(tmp_path, "empty.bin", b"")
    elif setup == "empty-dir":
        model = tmp_path / "empty"
        model.mkdir()
    elif setup == "missing-sbom":
        sbom = tmp_path / "missing.json"
    elif setup == "garbage-sbom":
        sbom = _file(tmp_path, "bom.json", b"\xfc\x00garbage")
    elif setup == "other-json-sbom":
        sbom = _file(tmp_path, "bom.json", b'{"spdxVersion": "SPDX-2.3"}')
    else:
        version = 10**30
    before = len(list(Ledger(ws).entries()))
    with pytest.raises(InputError, match=message):
        register(ws, "clf", model, sbom=sbom, version=version, scan=True)
    assert len(list(Ledger(ws).entries())) == before  # no scan evidence for a refused model
    assert list_versions(ws) == []


@pytest.mark.parametrize("ref", ["clf@²", "clf@99999999999999999999", "clf@9223372036854775808"])
def test_odd_version_selectors_are_not_found(ws: Workspace, tmp_path: Path, ref: str) -> None:
    register(ws, "clf", _file(tmp_path, "m.bin", b"weights"))
    with pytest.raises(InputError, match="no such"):
        get(ws, ref)


@pytest.mark.parametrize(("training", "message"), [
    ({"datasets": [{"digest": "nosuch"}]}, "not registered"),
    ({"datasets": 5}, "'datasets' must be a list"),
    ({"datasets": "x"}, "'datasets' must be a list"),
])
def test_bad_training_record_changes_nothing(ws: Workspace, tmp_path: Path,
                                             training: dict[str, object], message: str) -> None:
    before = len(list(Ledger(ws).entries()))
    with pytest.raises(InputError, match=message):
        register(ws, "clf", _file(tmp_path, "m.bin", b"weights"), training=training, scan=True)
    assert len(list(Ledger(ws).entries())) == before  # no model-scan evidence either


def test_a_model_store_file_registered_by_path_keeps_its_training_record(
        ws: Workspace, tmp_path: Path) -> None:
    import torch

    from cpmap.core.artifacts import load_object
    from cpmap.models import ArchSpec, TorchModel, build
    from cpmap.models.store import save_model

    torch.manual_seed(0)
    spec = ArchSpec("mlp", 4, 3, (8,))
    stored = save_model(ws, "m", TorchModel(build(spec), spec), {"seed": 7})
    data = load_object(ws, stored.digest)
    assert data is not None
    exported = _file(tmp_path, "m.safetensors", data)
    mv = register(ws, "clf", exported).version
    assert mv.lineage.training is not None and mv.lineage.training["seed"] == 7
    assert mv.lineage.training["model_store"] == {"ref": "m@1", "entry": stored.entry}
    assert register(ws, "other", _file(tmp_path, "x.bin", b"w")).version.lineage.training is None
