"""The CP10 gate requirement: a refused intake batch in the training lineage fails it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
