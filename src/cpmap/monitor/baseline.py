"""A version's input baseline, built from the training data its lineage names.

:func:`build` (``cpmap monitor baseline NAME@VERSION``) opens each dataset of the version's
signed lineage through CP1 (bytes re-checked against the registered digest), keeps those with
the model's feature count, splits them (seeded) into fit and held-out calibration rows, fits the
OOD detector (:mod:`cpmap.monitor.ood`) and the probing thresholds
(:mod:`cpmap.monitor.probing`), stores the baseline as a content-addressed JSON object and
records ``monitor-baseline`` evidence about the version's digest (and the data digests).

:func:`current` is what the gateway loads: the latest *verified* baseline entry about the
digest it serves, whose object hashes to the digest the entry signs. :func:`check_about`
refuses a baseline made for another version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.errors import InputError
from cpmap.monitor.ood import (
    OodDetector,
    calibrate,
    conformal_threshold,
    fit_input,
    min_rows,
    out_of_fold,
)
from cpmap.monitor.probing import ProbeSettings
from cpmap.monitor.probing import calibrate as calibrate_probing

if TYPE_CHECKING:
    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace
    from cpmap.gate.kit import Item
    from cpmap.models.protocol import Model
    from cpmap.registry.manifest import ModelVersion

FORMAT = "cpmap-monitor-baseline/1"
CAL_SHARE = 0.3
MIN_ROWS = 60


class BaselineError(InputError):
    """No usable baseline (no fitting lineage data, a foreign or corrupt baseline)."""


@dataclass(frozen=True)
class Baseline:
    model: str
    model_digest: str
    detector: OodDetector
    probing: ProbeSettings
    target_fpr: float
    confidence_mean: float
    confidence_q05: float
    sha256: str = ""
    entry: int | None = None

    def to_doc(self, extra: dict[str, Any]) -> dict[str, Any]:
        return {"format": FORMAT, "model": self.model, "model_digest": self.model_digest,
                "detector": self.detector.to_dict(), "probing": self.probing.to_dict(),
                "target_fpr": self.target_fpr, "confidence": {
                    "mean": self.confidence_mean, "q05": self.confidence_q05}, **extra}

    @classmethod
    def from_doc(cls, doc: Any, where: str, sha256: str = "",
                 entry: int | None = None) -> Baseline:
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise BaselineError(f"{where}: not a {FORMAT} document")
        try:
            conf = doc["confidence"]
            return cls(str(doc["model"]), str(doc["model_digest"]),
                       OodDetector.from_dict(doc["detector"], where),
                       ProbeSettings.from_dict(doc["probing"]), float(doc["target_fpr"]),
                       float(conf["mean"]), float(conf["q05"]), sha256, entry)
        except (KeyError, TypeError, ValueError) as e:
            raise BaselineError(f"{where}: baseline field missing or malformed "
                                f"({type(e).__name__}: {e})") from e


def _model(ws: Workspace, mv: ModelVersion) -> Model:
    from cpmap.gateway.served import artifact_bytes, load_model

    # as the gateway loads it: a user's own model behind its schema and trusted types
    return load_model(ws, mv, artifact_bytes(ws, mv))


def _split(mv: ModelVersion, digest: str) -> tuple[float, int] | None:
    """The held-out split the training record declares for dataset ``digest``, if any."""
    for d in (mv.lineage.training or {}).get("datasets") or []:
        split = d.get("split") if isinstance(d, dict) else None
        if isinstance(split, dict) and d.get("digest") == digest:
            try:
                return float(split["test_size"]), int(split["seed"])
            except (KeyError, TypeError, ValueError):
                return None
    return None


def lineage_rows(ws: Workspace, mv: ModelVersion, dim: int, meta: dict[str, Any]
                 ) -> tuple[np.ndarray, np.ndarray | None, list[dict[str, Any]]]:
    """(training rows, held-out rows or None, datasets used) of every lineage dataset with
    ``dim`` features, opened and verified via CP1. Held-out rows are those the training
    record's split kept out of training: the model never saw them, so thresholds set on them
    hold on new traffic."""
    from cpmap.models.datasets import load_dataset

    fit, held, used, skipped = [], [], [], []
    for d in mv.lineage.datasets:
        ref = f"{d.name}@{d.version}" if d.version is not None else d.name
        try:
            ds = load_dataset(ref, ws, like=meta, purpose=f"CP8 baseline of {mv.ref}")
        except InputError as e:
            skipped.append(f"{ref}: {e.message}")
            continue
        if ds.x.ndim != 2 or ds.x.shape[1] != dim or ds.digest != d.digest:
            skipped.append(f"{ref}: {ds.x.shape[1] if ds.x.ndim == 2 else '?'} features")
            continue
        split = _split(mv, d.digest)
        train, test = ds.split(*split) if split else (ds, None)
        fit.append(np.asarray(train.x, dtype=np.float64))
        if test is not None:
            held.append(np.asarray(test.x, dtype=np.float64))
        used.append({"name": d.name, "version": d.version, "digest": d.digest,
                     "rows": len(ds.x), "held_out": 0 if test is None else len(test.x)})
    if not fit:
        seen = "; ".join(skipped) or "its lineage names no dataset"
        raise BaselineError(f"{mv.ref}: no training dataset in its lineage has the model's "
                            f"{dim} features ({seen})",
                            hint="register the version with --data naming its training data")
    return np.concatenate(fit), (np.concatenate(held) if held else None), used


def _splits(fit: np.ndarray, held: np.ndarray | None, fpr: float, seed: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(fit, calibration, check, held_out): the calibration rows are never used to fit the
    detector; the check rows (a third of the hold-out, when the rest still calibrates) are
    used for nothing but measuring the false-alarm rate of the final thresholds."""
    need = min_rows(fpr / 2)
    rng = np.random.default_rng(seed)
    if held is not None and len(held) >= need:
        order = rng.permutation(len(held))
        n_check = len(held) // 3 if len(held) - len(held) // 3 >= need else 0
        return fit, held[order[n_check:]], held[order[:n_check]], True
    if held is not None:  # too few held-out rows to calibrate on: they join the fit rows
        fit = np.concatenate([fit, held])
    n_cal = max(need, int(len(fit) * CAL_SHARE))
    if len(fit) - n_cal < MIN_ROWS:
        raise BaselineError(f"{len(fit)} lineage rows: a {fpr:.1%} false-alarm target needs "
                            f"{need} calibration rows besides {MIN_ROWS} to fit on",
                            hint="declare a hold-out split in the training record, or a "
                                 "higher --fpr")
    order = rng.permutation(len(fit))
    return fit[order[n_cal:]], fit[order[:n_cal]], fit[:0], False


def false_alarms(flagged: np.ndarray, fpr: float) -> dict[str, Any]:
    """The measured false-alarm rate on check rows: count, rate and Clopper-Pearson 95% CI, or
    "not estimable" when there are fewer rows than one false alarm at the target needs."""
    from cpmap.redteam.stats import clopper_pearson, needed

    k, n = int(np.sum(flagged)), len(flagged)
    if n < needed(fpr):
        return {"rows": n, "flagged": k, "estimable": False,
                "text": f"not estimable ({n} held-out check rows; {needed(fpr)} needed)"}
    rate = clopper_pearson(k, n)
    return {"rows": n, "flagged": k, "estimable": True, "rate": round(rate.value, 4),
            "ci95": [round(rate.lo, 4), round(rate.hi, 4)], "text": rate.text()}


def _logits(model: Model, x: np.ndarray) -> np.ndarray | None:
    """The model's logits, when it exposes them (torch models); else None."""
    from cpmap.models.protocol import has_gradients

    if not has_gradients(model):
        return None
    import torch

    with torch.no_grad():
        out = model.logits(torch.as_tensor(x, dtype=torch.float32))  # type: ignore[attr-defined]
    return np.asarray(out.numpy(), dtype=np.float64)


def output_scores(model: Model, cal: np.ndarray, check: np.ndarray, probs_cal: np.ndarray,
                  probs_check: np.ndarray, fpr: float) -> dict[str, Any]:
    """Max-softmax and (with logits) energy, each calibrated alone at ``fpr`` on the
    calibration rows and measured on the check rows: reported with the baseline; the gateway
    sees probabilities only, so its flag uses max-softmax (with the input score)."""
    from cpmap.monitor.ood import energy

    found = {"max-softmax": (1.0 - probs_cal.max(axis=1), 1.0 - probs_check.max(axis=1))}
    lc, lk = _logits(model, cal), _logits(model, check) if len(check) else None
    if lc is not None:
        found["energy"] = (energy(lc), energy(lk) if lk is not None else np.zeros(0))
    out = {}
    for name, (s_cal, s_check) in found.items():
        thr = conformal_threshold(s_cal, fpr)
        out[name] = {"threshold": thr, "false_alarms": false_alarms(s_check >= thr, fpr)}
    return out


def build(ws: Workspace, ref: str, *, fpr: float = 0.01, seed: int = 0) -> tuple[Baseline,
                                                                                Entry]:
    """Build, store and record the baseline of ``ref`` from its lineage's training data."""
    from cpmap.registry.versions import get

    if not 0 < fpr < 1:
        raise BaselineError(f"--fpr {fpr}: a false-alarm rate between 0 and 1")
    mv = get(ws, ref)
    model = _model(ws, mv)
    meta = dict(getattr(model, "meta", {}) or {})
    lin, held, used = lineage_rows(ws, mv, int(model.input_shape[0]), meta)
    if len(lin) + (0 if held is None else len(held)) < MIN_ROWS:
        raise BaselineError(f"{mv.ref}: fewer than {MIN_ROWS} lineage rows for a baseline")
    fit, cal, check, held_out = _splits(lin, held, fpr, seed)

    def proba(x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros((0, int(model.n_classes)))
        return np.asarray(model.predict_proba(x.astype(np.float32)), dtype=np.float64)

    probs_cal, probs_check, probs_fit = proba(cal), proba(check), proba(fit)
    det = calibrate(fit_input(fit), cal, probs_cal, fpr, out_of_fold(fit, seed=seed))
    cal_fpr = float((det.score(cal, probs_cal)[0] >= 1.0).mean())
    alarms = false_alarms(det.score(check, probs_check)[0] >= 1.0, fpr)
    # confidence and boundary statistics of natural traffic: held-out rows when declared
    ref_p = np.concatenate([probs_cal, probs_check]) if held_out else probs_fit
    conf = ref_p.max(axis=1)
    base = Baseline(mv.ref, mv.digest, det, calibrate_probing(fit, ref_p, seed), fpr,
                    float(conf.mean()), float(np.quantile(conf, 0.05)))
    x = np.concatenate([fit, cal, check])
    stats = {"mean": x.mean(axis=0).round(6).tolist(), "sd": x.std(axis=0).round(6).tolist(),
             "min": x.min(axis=0).round(6).tolist(), "max": x.max(axis=0).round(6).tolist()}
    doc = base.to_doc({"datasets": used, "rows": len(fit), "calibration_rows": len(cal),
                       "check_rows": len(check), "false_alarms": alarms,
                       "output_scores": output_scores(model, cal, check, probs_cal,
                                                      probs_check, fpr),
                       "feature_stats": stats, "seed": seed,
                       "calibration": "held-out split of the training record" if held_out
                       else "random share of the training rows (optimistic)"})
    return _record(ws, mv, base, doc, used, cal_fpr, len(cal))


def _record(ws: Workspace, mv: ModelVersion, base: Baseline, doc: dict[str, Any],
            used: list[dict[str, Any]], cal_fpr: float, n_cal: int) -> tuple[Baseline, Entry]:
    from dataclasses import replace

    from cpmap.core.artifacts import save_bytes
    from cpmap.core.evidence import Evidence, Subject, Verdict, canonical_json, record
    from cpmap.monitor.predicates import MonitorBaseline

    sha = save_bytes(ws, canonical_json(doc))
    fa = doc["false_alarms"]
    pred = MonitorBaseline(
        verdict=Verdict.PASS, rows=int(doc["rows"]), calibration_rows=n_cal,
        features=base.detector.features, target_fpr=base.target_fpr, calibrated_fpr=cal_fpr,
        check_rows=int(fa["rows"]), check_false_alarms=int(fa["flagged"]),
        false_alarm_rate=fa.get("rate"), false_alarm_low=(fa.get("ci95") or [None])[0],
        false_alarm_high=(fa.get("ci95") or [None, None])[1],
        baseline_sha256=sha, model_digest=mv.digest, datasets=tuple(used),
        scores=("mahalanobis(standardized inputs)", "1 - max softmax"),
        reported={k: v["false_alarms"]["text"] for k, v in doc["output_scores"].items()},
        highlights=(f"baseline of {mv.ref}: {doc['rows']} rows from "
                    f"{', '.join(str(d['name']) for d in used)}, conformal thresholds at "
                    f"{base.target_fpr:.1%} false alarms on {n_cal} calibration rows "
                    f"({doc['calibration']}); false alarms on held-out check rows: "
                    f"{fa['text']}",))
    subjects = [Subject(f"model:{mv.ref}", mv.digest),
                *(Subject(f"dataset:{d['name']}@{d['version']}", str(d["digest"]))
                  for d in used)]
    entry = record(Evidence.of(pred, subjects), ws)
    return replace(base, sha256=sha, entry=entry.index), entry


def current(ws: Workspace, digest: str) -> Baseline | None:
    """The latest verified baseline about ``digest`` (None when there is none)."""
    from cpmap.gate.evidence import collect
    from cpmap.monitor.predicates import MonitorBaseline

    found = [i for i in collect(ws, {digest}).items
             if isinstance(i.predicate, MonitorBaseline) and i.problem is None]
    if not found:
        return None
    return load_item(ws, found[-1], digest)


def load_item(ws: Workspace, item: Item, digest: str) -> Baseline:
    """The baseline a verified ``monitor-baseline`` item names, checked to be about ``digest``."""
    from cpmap.core.artifacts import load_object
    from cpmap.monitor.predicates import MonitorBaseline

    pred = item.predicate
    if not isinstance(pred, MonitorBaseline):
        raise BaselineError(f"entry #{item.index}: a {item.kind}, not a baseline")
    data = load_object(ws, pred.baseline_sha256)
    where = f"baseline #{item.index}"
    if data is None:
        raise BaselineError(f"{where}: object sha256:{pred.baseline_sha256[:12]} is missing "
                            "or does not match its digest")
    base = Baseline.from_doc(json.loads(data), where, pred.baseline_sha256, item.index)
    check_about(base, digest)
    return base


def check_about(base: Baseline, digest: str) -> None:
    """Refuse a baseline that is not about the version being served."""
    if base.model_digest != digest:
        raise BaselineError(f"baseline of {base.model} (sha256:{base.model_digest[:12]}) is "
                            f"not about the version served (sha256:{digest[:12]}); "
                            "monitoring refused", hint="cpmap monitor baseline NAME@VERSION")
