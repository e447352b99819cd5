"""The CP10 gate requirement: a refused intake batch in the training lineage fails it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.gate.evaluate import evaluate
from cpmap.retrain.predicates import IntakeCheck


def _version(ws: Any, tmp_path: Path, refused: bool) -> Any:
    from cpmap.provenance.datasets import register_dataset
    from cpmap.registry.versions import register

    batch = tmp_path / "batch.csv"
    batch.write_text("p0,label\n0.5,1\n")
    bv = register_dataset(ws, "digits-intake", batch)
    record(Evidence.of(IntakeCheck(verdict=Verdict.FAIL if refused else Verdict.PASS,
                                   accepted=not refused, batch=batch.name,
                                   refused_by="CP2-pii" if refused else None,
                                   reason="PII found" if refused else "accepted"),
                       [Subject(f"batch:{batch.name}", bv.digest)]), ws)
    train = tmp_path / "train.csv"
    train.write_text("p0,label\n0.5,1\n0.2,0\n")
    tv = register_dataset(ws, "digits-retrain", train, parents=[bv.digest],
                          transform="retrain-merge")
    model = tmp_path / "m.onnx"
    model.write_bytes(b"model" + bytes(refused))
    return register(ws, "digits", model, datasets=[tv.ref]).version


def test_refused_batch_in_lineage_fails_cp10(ws: Any, tmp_path: Path) -> None:
    result = evaluate(ws, _version(ws, tmp_path, refused=True)).control("CP10")
    assert result.status == "fail"
    assert "refused by the CP10 intake" in result.reasons[0] and "CP2-pii" in result.reasons[0]


def test_accepted_batches_pass_cp10(ws: Any, tmp_path: Path) -> None:
    result = evaluate(ws, _version(ws, tmp_path, refused=False)).control("CP10")
    assert result.status == "pass"


def test_retraining_attack_settings_lower_the_strength_or_refuse_bad_input(ws: Any) -> None:
    """``[retraining.attack]`` sets the candidate's CP4 attack strength (AutoAttack's when
    absent); anything but positive integers for known keys is bad input, never ignored."""
    from cpmap.errors import InputError
    from cpmap.retrain.pipeline import attack_settings
    from cpmap.robustness.runner import REFERENCE

    full = attack_settings(ws)
    assert (full.apgd_steps, full.fab_steps, full.square_iters) == tuple(REFERENCE.values())
    ws.config.setdefault("retraining", {})["attack"] = {"apgd_steps": 50, "square_iters": 200}
    light = attack_settings(ws)
    assert (light.apgd_steps, light.fab_steps, light.square_iters) == (50, 100, 200)
    for bad in ({"apgd_steps": 0}, {"fab_steps": "10"}, {"restarts": 2}, {"steps": True}):
        ws.config["retraining"]["attack"] = bad
        with pytest.raises(InputError, match=r"\[retraining.attack\]"):
            attack_settings(ws)
