"""What the CP10 stage needs before the loop: a production model, a drift alert, new data.

In the full demo the production model is CP7's (``digits`` in production) and the alert is
the CP9 stage's failing ``drift`` evidence. Run alone (``cpmap demo --only CP10``) the stage
makes a small production model itself (trained by ``cpmap train``'s service, with the demo
policy it prints), and when no failing drift evidence about production exists it runs a real
drift comparison (per-feature two-sample Kolmogorov-Smirnov tests, Bonferroni-corrected,
between the production training data and a window of brighter, noisier digits) and records
its result as CP9 ``drift`` evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.core.evidence import Evidence, Subject, Verdict, record

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.registry.manifest import ModelVersion

CAMPAIGN = {"fuzzing": {"examples": 5},
            "extraction": {"budgets": [50, 200], "fidelity_threshold": 1.01},
            "membership": {"reference_models": 1, "attacks": ["lira"]}}


def bootstrap(ws: Workspace, workdir: Path, name: str = "digits") -> ModelVersion:
    """A production ``name``: signed data, trained, scanned, evaluated, carded, checked,
    baselined."""
    from cpmap.builtin import write_digits
    from cpmap.provenance.datasets import register_dataset
    from cpmap.provenance.predicates import DataSignature
    from cpmap.registry.card import build_card, record_card
    from cpmap.registry.intake import register_any
    from cpmap.registry.stages import promote
    from cpmap.retrain.pipeline import _evidence
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.service import train_model

    npz = write_digits(workdir / "data" / "digits" / "digits.npz")
    dv = register_dataset(ws, "digits", npz, source="builtin:digits")
    record(Evidence.of(DataSignature(verdict=Verdict.PASS), [Subject(npz.name, dv.digest)]), ws)
    cfg = TrainConfig(arch="mlp", hidden=(32,), epochs=4, lr=5e-3, seed=0)
    trained = train_model(ws, dv.ref, cfg, f"{name}_production")
    _evidence(ws, trained.version.ref, dv.ref)
    mv = register_any(ws, name, trained.version.ref, scan=True).version
    record_card(ws, mv, build_card(ws, mv, {"intended_use": "the cpmap demo",
                                            "limitations": "a 4-epoch MLP"}),
                ["intended_use", "limitations"])
    from cpmap.retrain.rollout import check_candidate

    check_candidate(ws, mv)  # the CP7 evidence production needs
    from cpmap.monitor.baseline import build

    build(ws, mv.ref)  # and the CP8 input baseline, from its lineage
    from cpmap.drift import golden

    golden.holdout(ws, mv, workdir / "golden")  # CP9: production needs a golden-set run
    golden.run(ws, mv.ref)
    promote(ws, mv.ref)
    return mv


def drift_alert(ws: Workspace, mv: ModelVersion) -> tuple[int, str]:
    """The latest failing CP9 drift entry about ``mv``, or one recorded from a real test."""
    from cpmap.retrain.triggers import alerts

    found = [t for t in alerts(ws, mv.name) if t.trigger == "drift"]
    if found:
        return found[-1].source_entry or -1, f"found CP9 drift evidence #{found[-1].key}"
    from scipy.stats import ks_2samp

    from cpmap.core.findings import Finding, Location, Severity
    from cpmap.core.tags import Atlas

    ref, window = reference_and_window(ws, mv)
    p = np.array([ks_2samp(ref[:, j], window[:, j]).pvalue if ref[:, j].std() > 0 else 1.0
                  for j in range(ref.shape[1])])
    drifted = int((p < 0.05 / len(p)).sum())
    verdict = Verdict.FAIL if drifted else Verdict.PASS
    finding = Finding("CP9-DRIFT", Severity.HIGH, f"input drift on {drifted} of {len(p)} "
                      f"features (KS, Bonferroni 0.05, {len(window)} rows vs {len(ref)})",
                      Location(mv.ref), "retrain on recent data (cpmap retrain)",
                      (Atlas.T0031,))
    entry = record(Evidence("CP9", "drift", [Subject(f"model:{mv.ref}", mv.digest)], verdict,
                            findings=[finding] if drifted else []), ws)
    return entry.index, f"ran a drift comparison: {drifted}/{len(p)} features drifted " \
                        f"(CP9 drift evidence #{entry.index}, {verdict.value})"


def reference_and_window(ws: Workspace, mv: ModelVersion) -> tuple[np.ndarray, np.ndarray]:
    from cpmap.models.datasets import load_dataset

    ds = load_dataset(f"sha256:{mv.lineage.datasets[0].digest}", ws, purpose="drift check")
    rng = np.random.default_rng(0)
    window = np.clip(ds.x[-300:] * 1.3 + rng.normal(0, 0.05, ds.x[-300:].shape), 0, 1)
    return ds.x[:-300], window.astype(np.float32)


def batches(workdir: Path) -> dict[str, Path]:
    """A clean batch, a poisoned one (labels flipped) and one with planted e-mail addresses."""
    import pandas as pd

    from cpmap.builtin import digits

    x, y = digits()
    out = workdir / "retrain-batches"
    out.mkdir(parents=True, exist_ok=True)

    def write(name: str, labels: np.ndarray, extra: dict[str, Any] | None = None) -> Path:
        frame = pd.DataFrame(x[-80:], columns=[f"p{i}" for i in range(x.shape[1])])
        frame["label"] = labels
        for k, v in (extra or {}).items():
            frame[k] = v
        frame.to_csv(out / name, index=False)
        return out / name

    return {"clean": write("clean.csv", y[-80:]),
            "poisoned": write("poisoned.csv", (y[-80:] + 1) % 10),
            "pii": write("pii.csv", y[-80:],
                         {"submitted_by": [f"writer{i}@example.com" for i in range(80)]})}
