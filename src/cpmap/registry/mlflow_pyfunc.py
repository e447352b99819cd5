"""MLflow's ``python_function`` flavor for exported cpmap versions, loaded without pickle.

An exported version is the MLflow model directory

```
model/
  MLmodel        flavors.python_function: loader_module cpmap.registry.mlflow_pyfunc, data
  data/...       the version's files, byte for byte (safetensors + spec, skops or ONNX)
```

so that ``mlflow.pyfunc.load_model("models:/NAME/1")`` (and ``mlflow models serve``) work. MLflow
calls :func:`_load_pyfunc` with the ``data`` path; it loads through cpmap's model layer, which
reads safetensors, skops (default-trusted types only) and ONNX and refuses pickle: no
``cloudpickle`` or ``python_model`` entry is ever written, so nothing is unpickled on load.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.models.protocol import Model
    from cpmap.registry.manifest import ModelVersion

LOADER = "cpmap.registry.mlflow_pyfunc"
DATA = "data"
_MODEL_SUFFIXES = (".safetensors", ".skops", ".onnx")


def mlmodel(mv: ModelVersion, data_path: str, run_id: str) -> dict[str, Any]:
    """The MLmodel document of an exported version (written as YAML)."""
    import mlflow

    version = ".".join(map(str, sys.version_info[:3]))
    return {
        "artifact_path": "model",
        "run_id": run_id,
        "model_uuid": mv.digest[:32],
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "mlflow_version": mlflow.__version__,
        "flavors": {
            "python_function": {"loader_module": LOADER, "data": data_path,
                                "python_version": version,
                                "env": {"virtualenv": "python_env.yaml"}},
            "cpmap": {"name": mv.name, "version": mv.version,
                      "digest": f"sha256:{mv.digest}", "formats": mv.artifact.formats},
        },
    }


def python_env() -> str:
    """python_env.yaml: what `mlflow models serve` installs (cpmap brings the loader)."""
    from cpmap._version import __version__

    version = ".".join(map(str, sys.version_info[:3]))
    return (f"python: {version}\nbuild_dependencies:\n- pip\ndependencies:\n"
            f"- cpmap=={__version__}\n")


def _model_file(path: Path) -> Path:
    if path.is_file():
        return path
    found = sorted(p for p in path.rglob("*") if p.suffix.lower() in _MODEL_SUFFIXES)
    if not found:
        raise InputError(f"{path}: no safetensors, skops or ONNX file to load")
    return found[0]


class CpmapPyfunc:
    """The object MLflow's ``PyFuncModel`` wraps: ``predict`` answers class probabilities."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        rows = model_input.to_numpy() if hasattr(model_input, "to_numpy") else model_input
        x = np.asarray(rows, dtype=np.float32)
        return np.asarray(self.model.predict_proba(x))


def _load_pyfunc(data_path: str) -> CpmapPyfunc:
    """MLflow's entry point: load the version's files with the safe loader (never pickle)."""
    from cpmap.models.persist import load_file

    return CpmapPyfunc(load_file(_model_file(Path(data_path))))
