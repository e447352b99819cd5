"""``cpmap monitor poisoning``: rounds of data against the fixed anchor, recorded.

The anchor defaults to the training data of the model's *first* registered version (what was
trusted before any retraining), the rounds to the training data of each later version, in
order; ``--round`` gives batches instead. With a golden set (default ``<name>-golden`` when
registered), labels are checked against the model by class and successive versions are
compared on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from cpmap.core.evidence import Evidence, Subject, record
from cpmap.core.findings import Finding, Location, Severity, Verdict
from cpmap.drift import models as md
from cpmap.drift.evidence import POISON_TAGS
from cpmap.drift.jobs import training_ref
from cpmap.drift.poisoning import PoisonPolicy, PoisonResult, Round, boundary_shift, check
from cpmap.drift.poisoning import disagreement as disagree
from cpmap.drift.predicates import PoisoningReport
from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.models.datasets import Dataset
    from cpmap.models.protocol import Model
    from cpmap.registry.manifest import ModelVersion


@dataclass(frozen=True)
class PoisonJob:
    result: PoisonResult
    model: str
    anchor: str
    entry: int


def _golden(ws: Workspace, name: str, golden: str | None, model: Model,
            label: str | None) -> Dataset | None:
    from cpmap.provenance.datasets import get_dataset

    ref = golden or f"{name}-golden"
    try:
        get_dataset(ws, ref)
    except InputError:
        if golden is not None:
            raise
        return None
    return md.labelled(ws, ref, model, label, purpose="poisoning check")


def run(ws: Workspace, name: str, *, anchor: str | None = None, rounds: Sequence[str] = (),
        golden: str | None = None, label: str | None = None,
        policy: PoisonPolicy | None = None) -> PoisonJob:
    from cpmap.registry.versions import list_versions

    policy = policy or PoisonPolicy()
    versions = sorted(list_versions(ws, name), key=lambda v: v.version)
    if not versions:
        raise InputError(f"model {name!r}: not registered", hint="cpmap registry list")
    mv = md.version(ws, name)
    model = md.load(ws, mv)
    anchor_ref = anchor or training_ref(versions[0])
    round_refs = list(rounds) or [training_ref(v) for v in versions[1:]]
    if not round_refs:
        raise InputError(f"{name}: one version and no --round: nothing to compare with the "
                         "anchor")
    a = md.labelled(ws, anchor_ref, model, label, purpose="poisoning anchor")
    data = [md.labelled(ws, r, model, label, purpose="poisoning round") for r in round_refs]
    result = check(Round(a.x, a.y, a.ref), [Round(d.x, d.y, d.ref) for d in data], a.classes,
                   a.feature_names, policy)
    g = _golden(ws, name, golden, model, label)
    if g is not None:
        result = _with_golden(ws, result, model, g, data, versions, policy)
    entry = _record(ws, mv, a, result)
    return PoisonJob(result, mv.ref, a.ref, entry)


def _with_golden(ws: Workspace, result: PoisonResult, model: Model, g: Dataset,
                 data: list[Dataset], versions: list[ModelVersion],
                 policy: PoisonPolicy) -> PoisonResult:
    gp = np.argmax(md.predict(model, g.x), axis=1)
    k = len(g.classes)
    wrong = np.array([int(np.sum(gp[g.y == c] != c)) for c in range(k)])
    rows = np.array([int(np.sum(g.y == c)) for c in range(k)])
    x = np.vstack([d.x for d in data])
    y = np.concatenate([d.y for d in data])
    table = disagree(np.argmax(md.predict(model, x), axis=1), y, wrong, rows, g.classes,
                     policy.alpha)
    shift = None
    if len(versions) >= 2:
        before = np.argmax(md.predict(md.load(ws, versions[-2]), g.x), axis=1)
        after = np.argmax(md.predict(md.load(ws, versions[-1]), g.x), axis=1)
        shift = boundary_shift(before, after)
    return replace(result, disagreement=table, boundary_shift=shift)


def _record(ws: Workspace, mv: ModelVersion, anchor: Dataset, r: PoisonResult) -> int:
    from cpmap.core.artifacts import save_bytes
    from cpmap.core.predicate import Plot
    from cpmap.drift.plots import png, series_figure

    names = [x.name.split("@")[0][-12:] or str(i) for i, x in enumerate(r.rounds)]
    fig = series_figure("CUSUM against the training anchor", names,
                        {"label shares": [x.label_cusum for x in r.rounds],
                         "feature means": [x.feature_cusum for x in r.rounds]}, r.policy.h,
                        "CUSUM")
    plot = Plot(save_bytes(ws, png(fig)), "slow-poisoning CUSUM per round")
    findings = [Finding("CP9-POISONING", Severity.HIGH,
                        f"{x.name}: cumulative shift from the anchor (labels {x.label_cusum:.1f},"
                        f" features {x.feature_cusum:.1f} > {r.policy.h}; worst class "
                        f"{x.worst_class}, feature {x.worst_feature})", Location(x.name),
                        "Review the rounds' data and labels before retraining on them.",
                        POISON_TAGS) for x in r.flagged[:5]]
    findings += [Finding("CP9-LABEL-DISAGREEMENT", Severity.HIGH,
                         f"class {c}: labels disagree with the production model more than "
                         "its golden-set error explains", Location(anchor.ref),
                         "Audit these labels (label flipping).", POISON_TAGS)
                 for c in r.disagreement.get("flagged", [])]
    highlights = (f"{len(r.rounds)} round(s) against anchor {anchor.ref}: "
                  f"{len(r.flagged)} flagged by CUSUM, {r.step_flags} by step-to-step tests",
                  f"boundary shift on the golden set: {r.boundary_shift}")
    pred = PoisoningReport(
        verdict=Verdict.FAIL if r.poisoned else Verdict.PASS, findings=tuple(findings),
        highlights=highlights, plots=(plot,), rounds=len(r.rounds),
        flagged_rounds=len(r.flagged), step_flags=r.step_flags,
        max_label_cusum=max((x.label_cusum for x in r.rounds), default=None),
        max_feature_cusum=max((x.feature_cusum for x in r.rounds), default=None),
        boundary_shift=r.boundary_shift, anchor=anchor.ref,
        per_round=tuple(x.to_dict() for x in r.rounds), disagreement=r.disagreement)
    return record(Evidence.of(pred, [Subject(mv.ref, mv.digest),
                                     Subject(anchor.ref, anchor.digest)]), ws).index
