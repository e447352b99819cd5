"""Review items from CP9 golden-set disagreements: the golden rows a version gets wrong.

A golden set is labelled, signed data the model is expected to get right; a row where the
version's prediction differs from the golden label is either a model error worth a training
example or a golden label worth a second look, and a person decides which. Each such row becomes
one review item with the reason ``golden-disagreement`` (and the golden label beside it), keyed
by the version, the golden set's bytes and the row, so rerunning ``cpmap monitor golden run``
queues nothing twice. Digits are shown as images, table rows (PII redacted) as tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.review.queue import add

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

REASON = "golden-disagreement"


def _shape(image_shape: tuple[int, ...] | None) -> str:
    if not image_shape or len(image_shape) < 2:
        return ""
    return f"{image_shape[-2]}x{image_shape[-1]}"


def _value(row: np.ndarray, names: tuple[str, ...], shape: str) -> Any:
    """Pixels as a list (shown as an image), a table row as ``{column: value}``."""
    values = [float(v) for v in row.ravel()]
    if shape:
        return values
    cols = names if len(names) == len(values) else tuple(f"x{j}" for j in range(len(values)))
    return dict(zip(cols, values, strict=True))


def from_golden(ws: Workspace, model_ref: str, golden: str | None = None,
                label: str | None = None) -> int:
    """Queue the rows of the golden set (default ``<name>-golden``) the version gets wrong;
    the number queued (rows queued before are not counted again)."""
    from cpmap.drift import models as md

    mv = md.version(ws, model_ref)
    model = md.load(ws, mv)
    ds = md.labelled(ws, golden or f"{mv.name}-golden", model, label,
                     purpose="golden-set review")
    probs = md.predict(model, ds.x)
    pred = np.argmax(probs, axis=1)
    shape = _shape(ds.image_shape)
    added = 0
    for i in np.flatnonzero(pred != ds.y):
        truth, said = ds.classes[int(ds.y[i])], ds.classes[int(pred[i])]
        got = add(ws, mv.name, f"golden:{mv.digest[:16]}:{ds.digest[:16]}:{int(i)}",
                  value=_value(ds.x[i], ds.feature_names, shape), prediction=said,
                  confidence=round(float(probs[i].max()), 6),
                  flags=[REASON, f"golden label {truth} ({ds.ref} row {int(i)})"],
                  source="golden", shape=shape)
        added += got is not None
    return added
