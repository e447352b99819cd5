"""Describe a user's own model file for registration: framework, format, schema, classes.

Nothing is re-encoded: the record describes the bytes as they are (their digest is the
version's digest), and loading them back goes through :func:`cpmap.models.byo.load_byo`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cpmap.errors import InputError
from cpmap.models.schema import fit_schema

FRAMEWORKS = ("sklearn", "torch", "onnx")
_KIND = {"sklearn": ("sklearn", "pickle"), "torch": ("torch", "pickle"), "onnx": ("onnx",)}


def _inner(data: bytes, where: str, suffix: str, ws: Any, trusted: Sequence[str],
           arch: Mapping[str, Any] | None) -> Any:
    from cpmap.models.persist import load_bytes

    return load_bytes(data, where, suffix=suffix, ws=ws, trusted_types=trusted,
                      spec_json=json.dumps(arch) if arch else None)


def _classes(inner: Any, frame: Any, target: str, user: Mapping[str, Any]) -> list[str]:
    estimator = getattr(inner, "estimator", None)
    if estimator is not None and hasattr(estimator, "classes_"):
        return [str(c) for c in estimator.classes_]
    if user.get("classes"):
        return [str(c) for c in user["classes"]]
    raw = frame[target].dropna().to_numpy()
    values = np.unique(raw.astype(str) if raw.dtype.kind in "OUS" else raw)
    return [str(v) for v in values]


def describe(path: Path, framework: str, frame: Any, target: str, *,
             user_schema: Mapping[str, Any] | None = None,
             arch: Mapping[str, Any] | None = None, trusted_types: Sequence[str] = (),
             ws: Any = None) -> dict[str, Any]:
    """The ``byo`` record of a model file: how cpmap loads it and builds its inputs."""
    from cpmap.models.persist import detect_format

    if framework not in FRAMEWORKS:
        raise InputError(f"--framework {framework!r}: one of {', '.join(FRAMEWORKS)}")
    where = str(path)
    data = path.read_bytes()
    suffix = path.suffix.lower()
    inner = _inner(data, where, suffix, ws, trusted_types, arch)
    if inner.kind not in _KIND[framework]:
        raise InputError(f"{where}: this is a {inner.kind} model, not {framework}",
                         hint=f"--framework {inner.kind}")
    estimator = getattr(inner, "estimator", None)
    names = getattr(estimator, "feature_names_in_", None)
    user = dict(user_schema or {})
    schema = fit_schema(frame, target, user,
                        default_features=[str(n) for n in names] if names is not None else None,
                        default_input="frame" if names is not None else "array", where=where)
    classes = _classes(inner, frame, target, user)
    if len(classes) != inner.n_classes:
        raise InputError(f"{where}: the model has {inner.n_classes} outputs, the target "
                         f"{target!r} has {len(classes)} classes",
                         hint="list the classes in the schema ('classes')")
    return {"framework": framework, "format": detect_format(data, suffix), "suffix": suffix,
            "schema": schema, "classes": classes, "arch": dict(arch) if arch else None,
            "trusted_types": list(trusted_types), "target": target,
            "estimator": type(estimator if estimator is not None else inner).__name__}
