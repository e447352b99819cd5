"""The model layer: one :class:`Model` contract, safe persistence, datasets, the model store.

``load(path_or_ref)`` is the one way to get a model: a safetensors / skops / ONNX file, a
workspace model (``name``, ``name@N``, ``sha256:<hex>``), or an ``http(s)://`` endpoint. It never
unpickles a file whose SHA-256 the user has not trusted.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.models.adapters import SklearnModel, TorchModel
    from cpmap.models.archs import ARCHS, ArchSpec, build
    from cpmap.models.datasets import Dataset, load_dataset
    from cpmap.models.persist import UntrustedTypes, load_file, save_file, wrap
    from cpmap.models.protocol import GradientModel, Model, accuracy, has_gradients, predict
    from cpmap.models.remote import RemoteModel
    from cpmap.models.store import (
        StoredModel,
        get_model,
        list_models,
        load_version,
        save_model,
    )
    from cpmap.models.trust import UntrustedPickle

# Exports resolve lazily: the store imports cpmap.models.tables on every command, and that
# must not pay for importing torch.
_LAZY = {
    "SklearnModel": "adapters", "TorchModel": "adapters", "ARCHS": "archs", "ArchSpec": "archs",
    "build": "archs", "Dataset": "datasets", "load_dataset": "datasets",
    "UntrustedTypes": "persist", "load_file": "persist", "save_file": "persist",
    "wrap": "persist", "GradientModel": "protocol", "Model": "protocol", "accuracy": "protocol",
    "has_gradients": "protocol", "predict": "protocol", "RemoteModel": "remote",
    "StoredModel": "store", "get_model": "store", "list_models": "store",
    "load_version": "store", "save_model": "store", "UntrustedPickle": "trust",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"cpmap.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'cpmap.models' has no attribute {name!r}")


__all__ = [
    "ARCHS", "ArchSpec", "Dataset", "GradientModel", "Model", "RemoteModel", "SklearnModel",
    "StoredModel", "TorchModel", "UntrustedPickle", "UntrustedTypes", "accuracy", "build",
    "get_model", "has_gradients", "list_models", "load", "load_dataset", "load_file",
    "load_version",
    "predict", "save_file", "save_model", "wrap",
]


def load(path_or_ref: str | Path, ws: Workspace | None = None, *,
         trusted_types: Iterable[str] = (), n_classes: int | None = None,
         input_dim: int | None = None, api_key_env: str = "CPMAP_MODEL_API_KEY") -> Model:
    """Load a model safely from a file, the workspace store, or a remote endpoint.

    An existing path wins over a store name; ``n_classes`` and ``input_dim`` are needed only
    for endpoints (a black box does not describe itself).
    """
    from cpmap.models.persist import load_file
    from cpmap.models.remote import RemoteModel
    from cpmap.models.store import get_model, load_version

    ref = str(path_or_ref)
    if ref.startswith(("http://", "https://")):
        if n_classes is None or input_dim is None:
            raise InputError(f"{ref}: a remote model needs n_classes and input_dim")
        return RemoteModel(ref, n_classes, input_dim, api_key_env=api_key_env)
    path = Path(ref)
    if path.is_file():
        return load_file(path, ws, trusted_types)
    if ws is None:
        raise InputError(f"{ref}: no such model file (and no workspace to look it up in)")
    return load_version(ws, get_model(ws, ref), trusted_types)
