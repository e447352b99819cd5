"""MLflow interop (optional extra ``mlflow``: mlflow-skinny, sqlalchemy, alembic).

``export_version`` logs a version's files to an MLflow run and registers an MLflow model
version whose tags point back at cpmap: digest, ledger entry, gate verdict and the evidence
entries. ``import_version`` takes an MLflow model version only when every file in it is in a
safe format (safetensors, skops, ONNX, plain data) as judged by the CP3 scanner and no flavor
needs unpickling; the MLflow lineage (run, source, tags) goes into the training record.
Telemetry is switched off before MLflow is imported: nothing phones home.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError
from cpmap.registry.artifact import materialize

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.registry.manifest import ModelVersion
    from cpmap.registry.versions import Registered

# Flavors whose loaders unpickle (cloudpickle/pickle/torch.save) unless proven otherwise.
PICKLE_FLAVORS = frozenset({"pytorch", "sklearn", "xgboost", "lightgbm", "catboost", "keras",
                            "tensorflow", "spark", "statsmodels", "prophet", "pmdarima",
                            "h2o", "langchain", "pyfunc_cloudpickle"})
SAFE_FILE_SUFFIXES = frozenset({".safetensors", ".skops", ".onnx", ".json", ".txt", ".md",
                                ".yaml", ".yml", ".csv", ".npz"})
METADATA_FILES = frozenset({"MLmodel", "conda.yaml", "python_env.yaml", "requirements.txt",
                            "input_example.json", "serving_input_example.json"})


NETWORK_TIMEOUT = 10  # seconds: an unreachable tracking server is an error, never a hang


def check_reachable(uri: str, timeout: float = NETWORK_TIMEOUT) -> None:
    """An http(s) tracking server must accept a connection within ``timeout`` seconds.

    MLflow's own client retries with backoff for minutes before it gives up; a connect probe
    first turns a wrong or down URI into one line and exit 2 in seconds.
    """
    import socket
    from urllib.parse import urlsplit

    from cpmap.core.store import redact_url

    url = urlsplit(uri)
    if url.scheme not in ("http", "https") or not url.hostname:
        return
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as e:
        raise InputError(f"MLflow tracking URI {redact_url(uri)}: cannot connect within "
                         f"{timeout:g}s ({e.strerror or e})",
                         hint="check the URI and that the tracking server runs") from e


def _client(uri: str) -> Any:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    # bound every later request too: MLflow's defaults are 120 s and 7 retries with backoff
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(NETWORK_TIMEOUT))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    check_reachable(uri)
    try:
        from mlflow import MlflowClient
    except ImportError as e:
        raise InputError("MLflow interop needs the mlflow extra",
                         hint="pip install 'cpmap[mlflow]'") from e
    with mlflow_errors(uri):
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextmanager
def mlflow_errors(uri: str) -> Iterator[None]:
    """MLflow's refusals (unsupported URI, unreachable store, ...) as one line naming the URI,
    with any password in it hidden."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    from cpmap.core.store import redact_url

    try:
        yield
    except (MlflowException, SQLAlchemyError, OSError) as e:
        safe = redact_url(uri)
        text = str(getattr(e, "message", "") or e).replace(uri, safe).strip()
        first = (text.splitlines() or [type(e).__name__])[0][:300]
        raise InputError(f"--tracking-uri {safe}: MLflow refused: {first}") from e


@dataclass(frozen=True)
class Exported:
    name: str
    version: str
    run_id: str
    source: str

    def to_dict(self) -> dict[str, str]:
        return {"mlflow_model": self.name, "mlflow_version": self.version, "run_id": self.run_id,
                "source": self.source}


def _tags(ws: Workspace, mv: ModelVersion) -> dict[str, str]:
    from cpmap.gate.evaluate import evaluate

    result = evaluate(ws, mv)
    evidence = sorted({i.index for c in result.controls for i in c.evidence})
    return {"cpmap.model": mv.name, "cpmap.version": str(mv.version),
            "cpmap.digest": f"sha256:{mv.digest}", "cpmap.ledger_entry": str(mv.entry),
            "cpmap.gate": "passed" if result.passed else "failed",
            "cpmap.gate.failing": ",".join(c.control for c in result.failing()),
            "cpmap.evidence": ",".join(map(str, evidence))[:4000],
            "cpmap.workspace_key": ws.public_key.keyid}


def export_version(ws: Workspace, mv: ModelVersion, uri: str, experiment: str = "cpmap"
                   ) -> Exported:
    """Log the version's files to a run and register them as an MLflow model version."""
    client = _client(uri)
    with mlflow_errors(uri):
        return _export(ws, mv, client, experiment)


def _export(ws: Workspace, mv: ModelVersion, client: Any, experiment: str) -> Exported:
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(experiment)
    tags = _tags(ws, mv)
    run = client.create_run(exp_id, tags={**tags, "mlflow.runName": mv.ref})
    with tempfile.TemporaryDirectory(prefix="cpmap-mlflow-") as tmp:
        _write_mlflow_model(ws, mv, Path(tmp) / "model", run.info.run_id)
        client.log_artifacts(run.info.run_id, str(Path(tmp) / "model"), "model")
    client.set_terminated(run.info.run_id)
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(mv.name)
    except MlflowException:
        client.create_registered_model(mv.name, tags={"cpmap.model": mv.name})
    source = f"runs:/{run.info.run_id}/model"
    version = client.create_model_version(mv.name, source, run.info.run_id, tags=tags)
    return Exported(mv.name, str(version.version), run.info.run_id, source)


def _write_mlflow_model(ws: Workspace, mv: ModelVersion, root: Path, run_id: str) -> None:
    """``root/MLmodel`` (pyfunc flavor with cpmap's safe loader) and ``root/data/`` (the files)."""
    import yaml

    from cpmap.registry.mlflow_pyfunc import DATA, mlmodel, python_env

    path = materialize(ws, mv.artifact, root / DATA)
    data_path = path.relative_to(root).as_posix()
    (root / "MLmodel").write_text(yaml.safe_dump(mlmodel(mv, data_path, run_id),
                                                 sort_keys=False))
    (root / "python_env.yaml").write_text(python_env())


def _cpmap_data(root: Path) -> Path:
    """What to register from a downloaded MLflow model: the ``data`` path of a model cpmap
    exported (so a round trip keeps the digest), else the whole directory."""
    from cpmap.registry.mlflow_pyfunc import LOADER

    conf = _flavors(root).get("python_function")
    data = conf.get("data") if isinstance(conf, dict) else None
    if isinstance(conf, dict) and conf.get("loader_module") == LOADER and isinstance(data, str):
        target: Path = (root / data).resolve()
        if root.resolve() in target.parents and target.exists():
            return target
    return root


def _flavors(root: Path) -> dict[str, Any]:
    mlmodel = root / "MLmodel"
    if not mlmodel.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(mlmodel.read_text())
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
        raise InputError(f"{mlmodel}: unreadable MLmodel file") from e
    flavors = data.get("flavors") if isinstance(data, dict) else None
    return flavors if isinstance(flavors, dict) else {}


def unsafe_reasons(root: Path) -> list[str]:
    """Why the downloaded model may not be imported (empty when it may)."""
    reasons = []
    flavors = _flavors(root)
    for name, conf in flavors.items():
        pyfunc_pickle = name == "python_function" and isinstance(conf, dict) and (
            conf.get("python_model") or conf.get("cloudpickle_version"))
        if name in PICKLE_FLAVORS or pyfunc_pickle:
            reasons.append(f"flavor {name!r} loads by unpickling")
    files = [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else [root]
    reasons += [f"{p.relative_to(root) if root.is_dir() else p.name}: not a safe model format"
                for p in files
                if p.name not in METADATA_FILES and p.suffix.lower() not in SAFE_FILE_SUFFIXES]
    from cpmap.supplychain.modelfiles.scan import scan_path

    verdicts = [(Path(r.path).name, str(getattr(r.verdict, "value", r.verdict)))
                for r in scan_path(root)]
    return reasons + [f"{n}: CP3 scan says {v}" for n, v in verdicts if v != "safe"]


def import_version(ws: Workspace, uri: str, mlflow_name: str, mlflow_version: str,
                   name: str | None = None) -> Registered:
    """Register an MLflow model version in cpmap if it holds safe formats only."""
    from cpmap.registry.versions import register

    client = _client(uri)
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version(mlflow_name, mlflow_version)
    except MlflowException as e:
        from cpmap.core.store import redact_url

        raise InputError(f"MLflow model {mlflow_name} version {mlflow_version}: not found at "
                         f"{redact_url(uri)}") from e
    with tempfile.TemporaryDirectory(prefix="cpmap-mlflow-") as tmp:
        from mlflow.artifacts import download_artifacts

        with mlflow_errors(uri):
            local = Path(download_artifacts(artifact_uri=mv.source, dst_path=tmp,
                                            tracking_uri=uri))
        reasons = unsafe_reasons(local)
        if reasons:
            raise InputError(f"MLflow model {mlflow_name} version {mlflow_version}: refused: "
                             + "; ".join(reasons[:5]),
                             hint="convert it to safetensors, skops or ONNX first")
        training = {"mlflow": {"tracking_uri": uri, "name": mlflow_name,
                               "version": str(mv.version), "run_id": mv.run_id,
                               "source": mv.source, "tags": dict(mv.tags or {})}}
        return register(ws, name or mlflow_name, _cpmap_data(local), training=training,
                        scan=True)
