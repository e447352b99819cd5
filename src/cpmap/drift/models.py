"""The model side of CP9: a registered version resolved, verified and loaded, its labelled
data read the way it was trained, its validation figures looked up in the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.models.datasets import Dataset
    from cpmap.models.protocol import Model
    from cpmap.registry.manifest import ModelVersion


def version(ws: Workspace, ref: str) -> ModelVersion:
    """``NAME`` (its production version, else its latest), ``NAME@N`` or ``NAME@ALIAS``."""
    from cpmap.registry.versions import get

    if "@" in ref or ":" in ref:
        return get(ws, ref.replace(":", "@", 1))
    try:
        return get(ws, f"{ref}@production")
    except InputError:
        return get(ws, f"{ref}@latest")


def load(ws: Workspace, mv: ModelVersion) -> Model:
    """The version's model from the bytes that hash to its signed digest (safe formats only),
    loaded as the gateway loads it: a user's own model behind its feature schema, with the
    types its registration trusted."""
    from cpmap.gateway.served import artifact_bytes, load_model

    return load_model(ws, mv, artifact_bytes(ws, mv))


def labelled(ws: Workspace, ref: str, model: Model, label: str | None = None,
             purpose: str = "golden-set run") -> Dataset:
    """A dataset reference read with the model's preprocessing and class order."""
    from cpmap.models.datasets import load_dataset

    return load_dataset(ref, ws, label=label, purpose=purpose,
                        like=dict(getattr(model, "meta", {}) or {}))


def predict(model: Model, x: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Class probabilities, in batches (bounded memory on large golden sets)."""
    parts = [np.asarray(model.predict_proba(x[i:i + batch]), dtype=np.float64)
             for i in range(0, len(x), batch)]
    return np.vstack(parts) if parts else np.empty((0, model.n_classes))


@dataclass(frozen=True)
class Figure:
    """A validation figure of a version: where it comes from, the accuracy, its rows if known."""

    source: str
    accuracy: float
    rows: int | None = None


def validation_figure(ws: Workspace, mv: ModelVersion, golden_digest: str | None = None,
                      golden_name: str | None = None) -> Figure | None:
    """The version's accepted accuracy: its first golden-set run on this golden set (these
    bytes, else an earlier version of the same golden set), else the CP4 clean accuracy
    recorded about it, else None."""
    from cpmap.controls import read_predicate
    from cpmap.core.ledger import Ledger
    from cpmap.drift.predicates import GoldenRun

    same: Figure | None = None
    named: Figure | None = None
    cp4: Figure | None = None
    for e in Ledger(ws).entries(digest=mv.digest):
        kind = str(e.summary().get("kind", ""))
        p: Any = read_predicate(kind, e.predicate)
        subjects = {s.get("digest", {}).get("sha256") for s in e.statement.get("subject", [])}
        if isinstance(p, GoldenRun) and p.accuracy is not None:
            fig = Figure(f"first golden-set run #{e.index} ({p.golden})", p.accuracy, p.rows)
            if same is None and (golden_digest is None or golden_digest in subjects):
                same = fig
            if named is None and golden_name and p.golden.split("@")[0] == golden_name:
                named = fig
        acc = getattr(p, "clean_accuracy", None)
        if cp4 is None and kind == "robustness-evaluation" and isinstance(acc, float):
            cp4 = Figure(f"CP4 clean accuracy #{e.index}", acc)
    return same or named or cp4
