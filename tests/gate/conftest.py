"""A kit that records, for a registered model, the evidence each control would record.

Evidence is built with the producers' own typed predicates, so a renamed metric breaks these
tests instead of leaving them green while the gate no longer sees the producer's evidence."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.findings import Finding, Severity
from cpmap.core.workspace import Workspace
from cpmap.gateway.predicates import GatewayCheck
from cpmap.provenance.predicates import DataSignature
from cpmap.redteam.predicates import RedteamCampaign
from cpmap.registry.manifest import ModelVersion
from cpmap.robustness.predicates import ENSEMBLE, AttackRow, RobustnessEvaluation
from cpmap.supplychain.predicates import ModelScan


@dataclass
class Kit:
    ws: Workspace
    tmp: Path

    def dataset(self, name: str = "train", content: bytes = b"x,y\n1,0\n2,1\n") -> str:
        """A CP1-registered dataset with a supplier-style signature; returns ``name@1``."""
        from cpmap.provenance.datasets import register_dataset

        path = self.tmp / f"{name}.csv"
        path.write_bytes(content)
        dv = register_dataset(self.ws, name, path, source="builtin:test")
        record(Evidence.of(DataSignature(verdict=Verdict.PASS),
                           [Subject(path.name, dv.digest)]), self.ws)
        return dv.ref

    def model(self, name: str = "clf", content: bytes = b"weights-1",
              datasets: tuple[str, ...] | None = None, **kw: Any) -> ModelVersion:
        from cpmap.registry.versions import register

        path = self.tmp / f"{name}-{hashlib.sha256(content).hexdigest()[:8]}.safetensors"
        path.write_bytes(content)
        ds = datasets if datasets is not None else (self.dataset(),)
        return register(self.ws, name, path, datasets=ds, **kw).version

    def cp3(self, mv: ModelVersion, verdict: str = "safe") -> None:
        findings = [] if verdict == "safe" else [Finding("CP3-PICKLE", Severity.CRITICAL,
                                                         "os.system in pickle")]
        scan = ModelScan(verdict=Verdict.PASS if verdict == "safe" else Verdict.FAIL,
                         findings=tuple(findings), files=1, safe=int(verdict == "safe"),
                         suspicious=int(verdict == "suspicious"),
                         malicious=int(verdict == "malicious"))
        record(Evidence.of(scan, [Subject(mv.artifact.files[0].path, mv.digest)]), self.ws)

    def cp4(self, mv: ModelVersion, robust: float = 0.7, clean: float = 0.95,
            eps: float = 0.15) -> None:
        ev = RobustnessEvaluation(verdict=Verdict.INFO, clean_accuracy=clean,
                                  results=tuple(AttackRow(a, eps, robust) for a in ENSEMBLE),
                                  worst_case={f"{eps:g}": robust})
        record(Evidence.of(ev, [Subject(mv.ref, mv.digest)]), self.ws)

    def cp5(self, mv: ModelVersion, tpr: float = 0.01, high: int = 0) -> None:
        findings = [Finding("CP5-FUZZ-CRASH", Severity.HIGH, "crash",
                            properties={"id": f"RT-{k}", "status": "open"})
                    for k in range(high)]
        from cpmap.redteam.stats import clopper_pearson

        rate = clopper_pearson(round(tpr * 1000), 1000)  # 1,000 members, 2,000 non-members
        campaign = RedteamCampaign(verdict=Verdict.INFO, findings=tuple(findings),
                                   membership_auc=0.5, membership_members=1000,
                                   membership_nonmembers=2000,
                                   membership_tpr_at_0_1pct_fpr=tpr,
                                   membership_tpr_at_0_1pct_fpr_upper=rate.hi)
        record(Evidence.of(campaign, [Subject(mv.ref, mv.digest)]), self.ws)

    def cp6(self, mv: ModelVersion, fields: tuple[str, ...] = ("intended_use", "limitations")
            ) -> None:
        from cpmap.registry.card import build_card, record_card

        prose = {f: f"{f} text" for f in fields}
        record_card(self.ws, mv, build_card(self.ws, mv, prose), ["intended_use", "limitations"])

    def cp7(self, mv: ModelVersion, failed: int = 0) -> None:
        check = GatewayCheck(verdict=Verdict.FAIL if failed else Verdict.PASS, checks=25,
                             failed=failed)
        record(Evidence.of(check, [Subject(f"model:{mv.ref}", mv.digest)]), self.ws)
        self.cp8(mv)  # production also needs CP8's input baseline of the version
        self.cp9(mv)  # and a passing, recent golden-set run of it

    def cp9(self, mv: ModelVersion, passed: bool = True) -> None:
        from cpmap.drift.predicates import GoldenRun

        run = GoldenRun(verdict=Verdict.PASS if passed else Verdict.FAIL, rows=200,
                        accuracy=0.95 if passed else 0.6, golden=f"{mv.name}-golden@1")
        record(Evidence.of(run, [Subject(mv.ref, mv.digest)]), self.ws)

    def cp8(self, mv: ModelVersion) -> None:
        from cpmap.monitor.predicates import MonitorBaseline

        base = MonitorBaseline(verdict=Verdict.PASS, rows=100, target_fpr=0.01,
                               datasets=tuple({"digest": d.digest} for d in mv.lineage.datasets))
        record(Evidence.of(base, [Subject(f"model:{mv.ref}", mv.digest)]), self.ws)

    def everything(self, mv: ModelVersion, **cp4: Any) -> None:
        """CP3-CP6: what a promotion to staging needs (production also needs :meth:`cp7`)."""
        self.cp3(mv)
        self.cp4(mv, **cp4)
        self.cp5(mv)
        self.cp6(mv)


@pytest.fixture
def kit(ws: Workspace, tmp_path: Path) -> Kit:
    return Kit(ws, tmp_path)


@pytest.fixture
def run_cli(ws: Workspace) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m cpmap`` in the workspace, as a user would (real exit codes)."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CPMAP_")}
        r = subprocess.run([sys.executable, "-m", "cpmap", *args], capture_output=True,
                           text=True, cwd=ws.root, env=env, timeout=300)
        assert "Traceback" not in r.stdout + r.stderr
        return r

    return run
