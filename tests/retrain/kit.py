"""A tiny production digits model trained by ``cpmap train``, gated and promoted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cpmap.core.evidence import Evidence, Subject, Verdict, record

GATE_ENV = {"CPMAP_GATE_CP4_MIN_ROBUST_ACCURACY": "0.0",  # a 2-epoch MLP is not robust
            "CPMAP_GATE_CP5_MEMBERSHIP_FPR": "0.01",  # digits keeps 450 held-out rows
            "CPMAP_RETRAINING_EVAL_SAMPLES": "60",
            # latency on a shared CI core is noise; these tests are about the other checks
            "CPMAP_RETRAINING_MAX_LATENCY_INCREASE_S": "1.0"}
# extraction measured for the gateway's budget; its finding threshold set out of reach, so the
# tests' gate is about CP10, not about a tiny MLP being easy to copy
CAMPAIGN = {"fuzzing": {"examples": 5},
            "extraction": {"budgets": [50, 200], "fidelity_threshold": 1.01},
            "membership": {"reference_models": 1, "attacks": ["lira"]}}


def production(ws: Any, tmp_path: Path) -> Any:
    """digits@1 in production: CP1 signed data, CP3 scan, CP4/CP5 evidence, a CP7 check, a CP8
    baseline, a CP9 golden-set run on the held-out split."""
    from cpmap.builtin import write_digits
    from cpmap.gateway.predicates import GatewayCheck
    from cpmap.provenance.datasets import register_dataset
    from cpmap.provenance.predicates import DataSignature
    from cpmap.registry.card import build_card, record_card
    from cpmap.registry.intake import register_any
    from cpmap.registry.stages import promote
    from cpmap.retrain.pipeline import _evidence
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.service import train_model

    npz = write_digits(tmp_path / "data" / "digits.npz")
    dv = register_dataset(ws, "digits", npz, source="builtin:digits")
    record(Evidence.of(DataSignature(verdict=Verdict.PASS), [Subject(npz.name, dv.digest)]), ws)
    ws.config.setdefault("retraining", {})["campaign"] = CAMPAIGN
    cfg = TrainConfig(arch="mlp", hidden=(32,), epochs=4, lr=5e-3, seed=0)
    trained = train_model(ws, dv.ref, cfg, "digits_prod")
    _evidence(ws, trained.version.ref, dv.ref)
    mv = register_any(ws, "digits", trained.version.ref, scan=True).version
    record_card(ws, mv, build_card(ws, mv, {"intended_use": "tests", "limitations": "tiny"}),
                ["intended_use", "limitations"])
    record(Evidence.of(GatewayCheck(verdict=Verdict.PASS, checks=1),
                       [Subject(f"model:{mv.ref}", mv.digest)]), ws)
    from cpmap.monitor.baseline import build

    build(ws, mv.ref)  # the CP8 input baseline production needs
    from cpmap.drift import golden

    golden.holdout(ws, mv, tmp_path / "golden")  # CP9: production needs a golden-set run
    assert golden.run(ws, mv.ref).passed
    promote(ws, mv.ref)
    return mv


def production_project(root: Path) -> Path:
    """A production workspace folder under ``root`` (digits@1, see :func:`production`), built
    with the test gate policy ``GATE_ENV`` set only while it is built (module fixtures cannot
    use monkeypatch)."""
    import os

    from cpmap.core.workspace import init

    old = {k: os.environ.get(k) for k in GATE_ENV}
    os.environ.update(GATE_ENV)
    try:
        ws = init(root / "proj", "test")
        production(ws, root / "proj")
        ws.close()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return root / "proj"
