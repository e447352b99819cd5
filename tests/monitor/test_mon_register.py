"""Registering a version builds and verifies its CP8 baseline from its lineage data; a version
whose lineage cannot give one is still registered, with one line saying why; opt-outs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cpmap.core.workspace import Workspace

from .conftest import SPLIT, run_cli


def _files(ws: Workspace, tmp_path: Path, data: bytes, digits: dict[str, Any]
           ) -> tuple[Path, str, Path]:
    from cpmap.provenance.datasets import register_dataset

    npz = tmp_path / "digits-train.npz"
    np.savez(npz, x=digits["x"], y=digits["y"])
    dv = register_dataset(ws, "digits-train", npz, source="builtin:test")
    record = tmp_path / "training.json"
    record.write_text(json.dumps({"datasets": [{"digest": dv.digest, "role": "train",
                                                "split": SPLIT}]}))
    model = tmp_path / "digits.safetensors"
    model.write_bytes(data)
    return model, dv.ref, record


def _register(capsys: pytest.CaptureFixture[str], ws: Workspace, name: str, model: Path,
              *extra: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli(capsys, "registry", "register", name, "--model", str(model),
                             *extra, "--format", "json", "--workspace", str(ws.root))
    return code, (json.loads(out) if out.strip() else {}), err


def test_registration_builds_and_verifies_the_baseline(
        ws: Workspace, tmp_path: Path, monitored_bytes: bytes, digits_split: dict[str, Any],
        capsys: pytest.CaptureFixture[str]) -> None:
    from cpmap.monitor.baseline import current

    model, ds, record = _files(ws, tmp_path, monitored_bytes, digits_split)
    code, doc, err = _register(capsys, ws, "digits", model, "--dataset", ds,
                               "--training-record", str(record))
    assert code == 0 and "recorded and verified" in err, err
    got = current(ws, doc["digest"])
    assert got is not None and doc["baseline"] == {"entry": got.entry, "sha256": got.sha256}
    code, again, err = _register(capsys, ws, "digits", model, "--dataset", ds,
                                 "--training-record", str(record))
    assert code == 0 and again["baseline"] == doc["baseline"] and "already built" in err


def test_opt_out_by_flag_and_by_setting(
        ws: Workspace, tmp_path: Path, monitored_bytes: bytes, digits_split: dict[str, Any],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from cpmap.monitor.baseline import current

    model, ds, record = _files(ws, tmp_path, monitored_bytes, digits_split)
    code, doc, err = _register(capsys, ws, "digits", model, "--dataset", ds,
                               "--training-record", str(record), "--no-baseline")
    assert code == 0 and "baseline" not in doc and current(ws, doc["digest"]) is None
    monkeypatch.setenv("CPMAP_MONITORING_BASELINE_ON_REGISTER", "false")
    code, doc, err = _register(capsys, ws, "digits", model, "--dataset", ds)
    assert code == 0 and "baseline" not in doc and current(ws, doc["digest"]) is None
    monkeypatch.setenv("CPMAP_MONITORING_BASELINE_ON_REGISTER", "maybe")
    code, _, err = _register(capsys, ws, "other", model, "--dataset", ds)
    assert code == 2 and "baseline_on_register" in err and "Traceback" not in err
    from cpmap.registry.intake import registered

    assert not registered(ws, "other")  # refused before anything was registered


def test_lineage_without_fitting_data_is_one_note(
        ws: Workspace, tmp_path: Path, model_bytes: bytes,
        capsys: pytest.CaptureFixture[str]) -> None:
    from cpmap.provenance.datasets import register_dataset

    csv = tmp_path / "tiny.csv"
    csv.write_bytes(b"x,y\n1,0\n2,1\n")
    dv = register_dataset(ws, "tiny-train", csv, source="builtin:test")
    model = tmp_path / "tiny.safetensors"
    model.write_bytes(model_bytes)
    code, doc, err = _register(capsys, ws, "tiny", model, "--dataset", dv.ref)
    notes = [line for line in err.splitlines() if line.startswith("no CP8 baseline")]
    assert code == 0 and doc["version"] == 1 and len(notes) == 1, err
    assert "cpmap monitor baseline tiny@1" in notes[0] and doc["baseline"]["note"] == notes[0]
    assert "Traceback" not in err
