"""A user model's feature schema: which columns it takes, of which type, prepared how.

cpmap attacks rows in one space: numbers min-max scaled to [0, 1] and small categoricals
one-hot (so that an eps means the same share of every feature's range). A model the user
trained on their own table never saw that space, so the schema records how to turn such a row
back into exactly what the model was fitted on: the raw columns as a DataFrame (a scikit-learn
estimator or pipeline with feature names), or a float array of the raw values, optionally
standardized (``(value - center) / scale``) the way the user's own training script did.

The schema is fitted on the registered dataset (ranges, categories) and kept in the signed
registry manifest, so every control decodes rows the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cpmap.errors import InputError
from cpmap.models.tabular import fit_preprocess

INPUTS = ("frame", "array")
KINDS = {"numeric": "numeric", "number": "numeric", "categorical": "onehot",
         "category": "onehot", "onehot": "onehot"}


def read_schema_file(path: Path) -> dict[str, Any]:
    """The user's schema JSON: ``{"features": [...], "input": "frame"|"array", "classes"}``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable JSON feature schema: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("features", []), list):
        raise InputError(f"{path}: a feature schema is an object with a 'features' list")
    return data


def _feature(entry: Any, where: str) -> dict[str, Any]:
    if isinstance(entry, str):
        return {"name": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise InputError(f"{where}: each feature is a column name or {{\"name\": ...}}")
    kind = entry.get("type")
    if kind is not None and kind not in KINDS:
        raise InputError(f"{where}: feature {entry['name']!r}: type {kind!r} is not one of "
                         "numeric, categorical")
    return dict(entry)


def fit_schema(frame: Any, target: str, user: Mapping[str, Any], *,
               default_features: Sequence[str] | None, default_input: str,
               where: str) -> dict[str, Any]:
    """The stored schema: columns with ranges/categories from ``frame``, how to feed them."""
    if target not in frame.columns:
        raise InputError(f"{where}: no target column {target!r}")
    declared = [_feature(f, where) for f in user.get("features") or []]
    names = [f["name"] for f in declared] or list(default_features or [
        str(c) for c in frame.columns if c != target])
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InputError(f"{where}: feature column(s) {missing[:5]} are not in the data")
    given = {f["name"]: f for f in declared}
    columns = []
    for n in names:
        kind = KINDS.get(str(given.get(n, {}).get("type", "")), "")
        col = frame[[n, target]]
        if kind == "onehot" and col[n].dtype.kind in "biuf":
            col = col.assign(**{n: col[n].astype(str)})
        try:
            fitted = fit_preprocess(col, target, (n,))["columns"]
        except InputError:
            fitted = []
        if not fitted or (kind and fitted[0]["kind"] != kind):
            raise InputError(f"{where}: feature {n!r} is neither numeric nor a small "
                             "categorical (at most 12 values)")
        spec = fitted[0]
        if spec["kind"] == "numeric" and col[n].dtype.kind in "biu":
            spec["integer"] = True  # the gateway then takes whole numbers only
        for key in ("center", "scale"):
            if key in given.get(n, {}):
                spec[key] = float(given[n][key])
        if "categories" in given.get(n, {}):
            spec["categories"] = [str(c) for c in given[n]["categories"]]
        columns.append(spec)
    feed = str(user.get("input") or default_input)
    if feed not in INPUTS:
        raise InputError(f"{where}: input {feed!r} is not one of {', '.join(INPUTS)}")
    return {"type": "tabular", "label": target, "columns": columns, "dropped": [],
            "input": feed}


def width(schema: Mapping[str, Any]) -> int:
    """Features of a row in cpmap's space (one per number, one per category)."""
    return sum(1 if c["kind"] == "numeric" else len(c["categories"]) for c in schema["columns"])


def model_width(schema: Mapping[str, Any]) -> int:
    """Features the model takes: one per column (frame), or as cpmap's row (array)."""
    return len(schema["columns"]) if schema.get("input") == "frame" else width(schema)
