"""Where a registration's bytes come from: a path, or a version in the model layer's store.

``cpmap train`` (CP4) keeps its models in the workspace model store with a training record;
registering ``NAME@N`` from there brings the record (datasets, config, seed, metrics) along
as lineage, so the registry does not depend on the user re-stating it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.registry.versions import Registered

_SUFFIX = {"safetensors": ".safetensors", "skops": ".skops", "onnx": ".onnx"}


def from_store(ws: Workspace, ref: str) -> tuple[bytes, str, dict[str, Any]]:
    """(bytes, file name, training record) of a model-store version ``NAME[@N]``."""
    from cpmap.core.artifacts import load_object
    from cpmap.models.store import get_model

    try:
        mv = get_model(ws, ref)
    except InputError as e:
        raise InputError(f"{ref}: no such model file or directory, and no model-store version "
                         "of that name", hint="cpmap models list") from e
    data = load_object(ws, mv.digest)
    if data is None:
        raise InputError(f"model {mv.ref}: stored artifact is missing or altered")
    return data, f"{mv.name}{_SUFFIX.get(mv.format, '.bin')}", mv.lineage_record()


def register_any(ws: Workspace, name: str, model: str, **kwargs: Any) -> Registered:
    """Register a path, or else a model-store reference, as a version of ``name``."""
    from cpmap.registry.versions import register

    path = Path(model)
    if path.exists() or path.is_symlink():
        return register(ws, name, path, **kwargs)
    data, filename, record = from_store(ws, model)
    if not kwargs.get("training"):
        kwargs["training"] = record
    with tempfile.TemporaryDirectory(prefix="cpmap-register-") as tmp:
        target = Path(tmp) / filename
        target.write_bytes(data)
        return register(ws, name, target, **kwargs)
