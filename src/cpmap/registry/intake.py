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
    from cpmap.models.store import StoredModel
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


def registered(ws: Workspace, name: str) -> bool:
    """Whether the registry holds any version of ``name``."""
    from sqlalchemy import select

    from cpmap.registry.tables import model_versions

    with ws.store.read() as conn:
        return conn.execute(select(model_versions.c.version).where(
            model_versions.c.name == name).limit(1)).first() is not None


def resolve_model(ws: Workspace, ref: str) -> StoredModel:
    """``NAME@V`` of the registry when NAME is registered, else of the model store.

    One identity: what is registered is what is evaluated, attacked and gated, under the
    registered digest. A registry version made from a store model carries its record.
    """
    from cpmap.core.refs import Ref
    from cpmap.models.store import StoredModel, get_model
    from cpmap.registry.versions import get

    if ref.startswith("sha256:") or not registered(ws, Ref.parse(ref, "model",
                                                                  aliases=True).name):
        return get_model(ws, ref)
    mv = get(ws, ref)
    if mv.artifact.kind != "file":
        raise InputError(f"{mv.ref}: a directory artifact cannot be loaded as one model",
                         hint="register the model file itself")
    rec = dict(mv.lineage.training or {})
    fmt = str(rec.get("format") or mv.artifact.formats[0])
    return StoredModel(mv.name, mv.version, mv.digest, fmt, str(rec.get("arch", fmt)), rec,
                       mv.created_at, mv.entry)


def register_own(ws: Workspace, name: str, path: Path, *, framework: str, data: str,
                 target: str, schema: Path | None = None, arch: Path | None = None,
                 trusted_types: tuple[str, ...] = (), **kwargs: Any) -> Registered:
    """Register a user's own model file as it is, with the feature schema fitted on ``data``.

    The file's bytes are the version (its SHA-256 is the digest evidence attaches to); the
    schema, classes and loading instructions go into the signed manifest's training record.
    """
    import json

    from cpmap.models.byo import load_byo
    from cpmap.models.datasets import load_dataset, resolve
    from cpmap.models.own import describe
    from cpmap.models.schema import read_schema_file
    from cpmap.models.tabular import read_frame
    from cpmap.registry.artifact import check_artifact
    from cpmap.registry.versions import register

    check_artifact(path)
    if not path.is_file():
        raise InputError(f"{path}: give the model file itself, not a directory")
    spec = _read_json(arch, "architecture") if arch is not None else None
    user = read_schema_file(schema) if schema is not None else None
    data_path, data_ref, digest, _ = resolve(data, ws, purpose=f"registering model {name}")
    frame = read_frame(data_path)
    byo = describe(path, framework, frame, target, user_schema=user, arch=spec,
                   trusted_types=trusted_types, ws=ws)
    model = load_byo(path.read_bytes(), str(path), byo, ws=ws, suffix=byo["suffix"])
    rows = load_dataset(data_ref, ws, like=model.meta, purpose=f"registering model {name}")
    model.predict_proba(rows.x[:8])  # a schema the model cannot take is bad input, now
    record = {"trainer": "external", "framework": framework, "format": byo["format"],
              "arch": byo["estimator"], "byo": byo, "meta": model.meta,
              "datasets": [{"ref": data_ref, "digest": digest, "role": "train"}],
              "types_reviewed": bool(trusted_types)}
    json.dumps(record)  # the manifest is JSON: fail here, not half-way through registering
    return register(ws, name, path, datasets=[data_ref], training=record, **kwargs)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    import json

    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable JSON {what}: {e}") from e
    if not isinstance(value, dict):
        raise InputError(f"{path}: a JSON {what} is an object")
    return value
