"""A tiny trained digits model registered as a gated version, and gateways serving it.

The model trains once per session (a few seconds, one thread); each test registers it in its
own workspace with the evidence each control would record, so the real gate passes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.workspace import Workspace
from cpmap.gateway.predicates import GatewayCheck
from cpmap.provenance.predicates import DataSignature
from cpmap.redteam.predicates import RedteamCampaign
from cpmap.redteam.stats import clopper_pearson
from cpmap.registry.manifest import ModelVersion
from cpmap.robustness.predicates import ENSEMBLE, AttackRow, RobustnessEvaluation
from cpmap.supplychain.predicates import ModelScan

EXTRACTION = {"target_accuracy": 0.9, "queries": 800, "rounding_decimals": 1, "points": [
    {"output": "probabilities", "budget": 50, "fidelity": 0.6, "accuracy": 0.5},
    {"output": "probabilities", "budget": 200, "fidelity": 0.92, "accuracy": 0.85},
    {"output": "probabilities", "budget": 800, "fidelity": 0.97, "accuracy": 0.88},
    {"output": "label", "budget": 50, "fidelity": 0.4, "accuracy": 0.4},
    {"output": "label", "budget": 200, "fidelity": 0.7, "accuracy": 0.66},
    {"output": "label", "budget": 800, "fidelity": 0.91, "accuracy": 0.86}]}


@pytest.fixture(scope="session")
def model_bytes() -> bytes:
    import torch

    from cpmap.builtin import digits
    from cpmap.models.datasets import Dataset
    from cpmap.models.persist import model_bytes as to_bytes
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.training import train

    torch.set_num_threads(1)
    x, y = digits()
    ds = Dataset("digits", "0" * 64, x[:600], y[:600], tuple(str(i) for i in range(10)),
                 image_shape=(1, 8, 8))
    model = train(ds, TrainConfig(arch="mlp", hidden=(32,), epochs=3, lr=5e-3)).model
    return to_bytes(model)[0]


def register_gated(ws: Workspace, tmp: Path, data: bytes, name: str = "digits",
                   extraction: dict[str, Any] | None = EXTRACTION, checked: bool = True,
                   train: Path | None = None, training: dict[str, Any] | None = None
                   ) -> ModelVersion:
    """Register ``data`` with passing CP1/CP3/CP4/CP5/CP6 evidence (and CP5 extraction), and
    with ``checked`` a passing CP7 gateway check and a CP8 baseline record, which production
    requires. ``train``: the training data file of its lineage (default: a two-row CSV),
    ``training``: its training record."""
    from cpmap.provenance.datasets import register_dataset
    from cpmap.registry.versions import register

    csv = train or tmp / f"{name}-train.csv"
    if train is None:
        csv.write_bytes(b"x,y\n1,0\n2,1\n")
    dv = register_dataset(ws, f"{name}-train", csv, source="builtin:test")
    record(Evidence.of(DataSignature(verdict=Verdict.PASS), [Subject(csv.name, dv.digest)]), ws)
    path = tmp / f"{name}-{hashlib.sha256(data).hexdigest()[:8]}.safetensors"
    path.write_bytes(data)
    mv = register(ws, name, path, datasets=[dv.ref], training=training).version
    return attach_passing(ws, mv, path.name, extraction, checked, data_digest=dv.digest)


def attach_passing(ws: Workspace, mv: ModelVersion, filename: str,
                   extraction: dict[str, Any] | None = EXTRACTION, checked: bool = True,
                   data_digest: str | None = None) -> ModelVersion:
    """The CP3-CP8 evidence a gated version carries (its data's CP1 evidence aside);
    ``data_digest``: the training data the CP8 baseline record names."""
    from cpmap.registry.card import build_card, record_card

    # the CP8 baseline names the training data of the version's lineage
    digests = [data_digest] if data_digest else [d.digest for d in mv.lineage.datasets]

    subj = [Subject(mv.ref, mv.digest)]
    record(Evidence.of(ModelScan(verdict=Verdict.PASS, files=1, safe=1),
                       [Subject(filename, mv.digest)]), ws)
    robust = RobustnessEvaluation(verdict=Verdict.INFO, clean_accuracy=0.95,
                                  results=tuple(AttackRow(a, 0.15, 0.7) for a in ENSEMBLE),
                                  worst_case={"0.15": 0.7})
    record(Evidence.of(robust, subj), ws)
    rate = clopper_pearson(10, 1000)  # 1,000 members, 2,000 non-members: estimable at 0.1%
    campaign = RedteamCampaign(
        verdict=Verdict.INFO, membership_tpr_at_0_1pct_fpr=0.01, membership_auc=0.5,
        membership_members=1000, membership_nonmembers=2000,
        membership_tpr_at_0_1pct_fpr_upper=rate.hi,
        plan={"extraction": {"fidelity_threshold": 0.9}} if extraction else {},
        results={"extraction": extraction} if extraction else {})
    record(Evidence.of(campaign, subj), ws)
    if checked:  # a passing `gateway check` of it in staging: production may take it
        record(Evidence.of(GatewayCheck(verdict=Verdict.PASS, checks=1),
                           [Subject(f"model:{mv.ref}", mv.digest)]), ws)
        from cpmap.monitor.predicates import MonitorBaseline

        record(Evidence.of(MonitorBaseline(verdict=Verdict.PASS, target_fpr=0.01,
                                           datasets=tuple({"digest": d} for d in digests)),
                           [Subject(f"model:{mv.ref}", mv.digest)]), ws)
        from cpmap.drift.predicates import GoldenRun  # CP9: a passing golden-set run

        record(Evidence.of(GoldenRun(verdict=Verdict.PASS, rows=200, accuracy=0.95),
                           subj), ws)
    prose = {"intended_use": "tests", "limitations": "tiny"}
    record_card(ws, mv, build_card(ws, mv, prose), ["intended_use", "limitations"])
    return mv


@pytest.fixture
def gated(ws: Workspace, tmp_path: Path, model_bytes: bytes) -> ModelVersion:
    return register_gated(ws, tmp_path, model_bytes)


@pytest.fixture
def serve(ws: Workspace) -> Iterator[Callable[..., Any]]:
    """Start gateways on free 127.0.0.1 ports; all stopped after the test."""
    from cpmap.gateway import build, run_in_thread
    from cpmap.gateway.config import load

    running: list[Any] = []

    def start(ref: str = "digits@1", **cfg: Any) -> Any:
        handle = run_in_thread(build(ws, ref, load(ws, env={}, **cfg)))
        running.append(handle)
        return handle

    yield start
    for h in running:
        h.stop()


@pytest.fixture
def key(ws: Workspace) -> Callable[..., str]:
    from cpmap.gateway.keys import create

    def make(client: str = "alice", scopes: tuple[str, ...] = ("infer:digits",),
             **kw: Any) -> str:
        return create(ws, client, list(scopes), **kw)[0]

    return make


def rows(n: int = 1, value: float = 0.5) -> dict[str, Any]:
    return {"inputs": [{"name": "input", "datatype": "FP32", "shape": [n, 64],
                        "data": [value] * (64 * n)}]}


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``cpmap ARGS`` in-process: (exit code, stdout, stderr)."""
    from cpmap.cli import main

    code = 0
    try:
        main(list(args))
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
