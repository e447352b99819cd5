"""From a model reference and a dataset reference to what a campaign needs.

A workspace model (``name``, ``name@N``) brings its digest and training record: the record's
dataset split tells which rows were members (so membership inference can be scored), and its
training config lets reference models be trained the way the target was. An endpoint
(``--endpoint URL``) is a black box: only queries, no record, no gradients.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.errors import InputError
from cpmap.redteam.campaign import CampaignData, split_data
from cpmap.redteam.shadow import Trainer
from cpmap.redteam.target import Target

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.models.datasets import Dataset
    from cpmap.models.protocol import Model


MIN_HELD_OUT = 20


@dataclass(frozen=True)
class Setup:
    target: Target
    data: CampaignData
    trainer: Trainer | None
    image_shape: tuple[int, int] | None
    dataset: str
    dataset_digest: str


def _image_shape(meta: dict[str, Any], ds: Dataset) -> tuple[int, int] | None:
    shape = meta.get("image_shape") or (list(ds.image_shape) if ds.image_shape else None)
    if shape and len(shape) == 3 and int(shape[0]) == 1:
        return int(shape[1]), int(shape[2])
    return None


def target_for(model: Model, name: str, digest: str, ds: Dataset,
               remote: bool = False) -> Target:
    """A :class:`Target` over a model-layer model (white-box when it has gradients)."""
    from cpmap.models.protocol import has_gradients

    if model.n_classes != ds.n_classes or model.input_shape != (ds.input_dim,):
        raise InputError(f"model {name}: expects {model.input_shape} inputs and "
                         f"{model.n_classes} classes; data {ds.ref} has {ds.input_dim} "
                         f"features and {ds.n_classes} classes")
    meta = dict(getattr(model, "meta", {}) or {})
    bounds = tuple(meta.get("bounds") or ds.bounds)
    module = getattr(model, "module", None) if has_gradients(model) else None
    return Target(name, digest, model.predict_proba, model.n_classes, tuple(model.input_shape),
                  (float(bounds[0]), float(bounds[1])), module, _image_shape(meta, ds), remote)


def _members(ds: Dataset, record: dict[str, Any]) -> tuple[Dataset, Dataset | None]:
    """(held-out rows, training rows) of ``ds`` per the record's split, when it matches."""
    for d in record.get("datasets", []):
        split = d.get("split")
        if d.get("digest") == ds.digest and split:
            train, test = ds.split(float(split["test_size"]), int(split["seed"]))
            return test, train
    return ds, None


def reference_trainer(record: dict[str, Any], ds: Dataset, mode: str = "target"
                      ) -> Trainer | None:
    """How membership reference models are trained.

    ``target`` (the default): the target's own recipe from its training record, so a
    reference differs from the target only in its rows (offline LiRA compares a record's score
    with the scores of models trained *like the target* without it; a mismatched recipe makes
    the attack measure the recipe, not the record). A full-batch record (``"batch": "full"``)
    is replayed with its width, epochs, learning rate and weight decay; a ``cpmap train``
    record through CP4's trainer with its architecture, epochs, optimizer settings, batch
    size and DP-SGD settings (a DP target's references are DP-SGD models too: references
    trained without the noise would make a DP model look less leaky than it is, or more),
    without adversarial training or distillation. ``mlp``: a fast full-batch MLP as wide as
    the target's first hidden layer, a mismatched approximation.
    """
    cfg_data = record.get("config")
    if not isinstance(cfg_data, dict):
        cfg_data = {}
    from cpmap.redteam.shadow import MLPConfig, mlp_trainer

    hidden = cfg_data.get("hidden") or [128]
    if mode == "mlp" or not cfg_data:
        return mlp_trainer(ds.n_classes, MLPConfig(hidden=int(hidden[0]), epochs=200))
    if cfg_data.get("batch") == "full":
        return mlp_trainer(ds.n_classes, MLPConfig(
            hidden=int(hidden[0]), epochs=int(cfg_data.get("epochs", 200)),
            lr=float(cfg_data.get("lr", 1e-2)),
            weight_decay=float(cfg_data.get("weight_decay", 0.0))))
    from cpmap.robustness.config import TrainConfig

    try:
        known = {k: v for k, v in cfg_data.items() if k in TrainConfig.__dataclass_fields__}
        known["hidden"] = tuple(known.get("hidden", (64,)))
        base = replace(TrainConfig(**known), adversarial=None, distill_from=None,
                       unsafe_reproducible_dp=False)
    except (TypeError, ValueError):
        return None

    def fit(x: np.ndarray, y: np.ndarray, seed: int) -> Any:
        from cpmap.robustness.training import train

        sub = replace(ds, x=np.asarray(x, dtype=np.float32), y=np.asarray(y, dtype=np.int64))
        cfg = replace(base, seed=seed)
        if cfg.dp_epsilon is not None:  # delta below 1/n of the reference's own rows
            cfg = replace(cfg, dp_delta=min(cfg.dp_delta, 0.5 / max(len(y), 1)))
        return train(sub, cfg).model.predict_proba

    return fit


def workspace_setup(ws: Workspace, model_ref: str, data_ref: str, seed: int = 0,
                    label: str | None = None, endpoint: str | None = None,
                    api_key_env: str = "CPMAP_MODEL_API_KEY", reference: str = "target") -> Setup:
    """Attack workspace model ``model_ref`` in process, or through ``endpoint`` when given.

    With an endpoint the workspace model (when it exists) still names the digest findings are
    filed against and gives the training split; otherwise the digest is the URL's SHA-256.
    """
    from cpmap.models.datasets import load_dataset
    from cpmap.models.store import load_version
    from cpmap.registry.intake import resolve_model

    if endpoint is not None:
        from cpmap.models.remote import RemoteModel

        check_endpoint(endpoint)
        # unreachable: nothing read, nothing recorded
        RemoteModel(endpoint, 1, 1, api_key_env=api_key_env).preflight()
    mv = None
    if endpoint is None or _exists(ws, model_ref):
        mv = resolve_model(ws, model_ref)
    record = dict(mv.record) if mv is not None else {}
    like = dict(record["meta"]) if record.get("byo") else None  # a user model's own schema
    ds = load_dataset(data_ref, ws, label=label, purpose=f"red-team campaign on {model_ref}",
                      like=like)
    held, train = _members(ds, record)
    if train is None and record.get("byo"):  # a user's model: its training data, registered
        train = _byo_members(ws, record, ds, like)
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(ws.scratch("hypothesis"))  # not a .hypothesis/ in the project
    if endpoint is not None:
        from cpmap.models.remote import RemoteModel

        name = mv.name if mv is not None else model_ref
        digest = mv.digest if mv is not None else hashlib.sha256(endpoint.encode()).hexdigest()
        remote = RemoteModel(endpoint, ds.n_classes, ds.input_dim, api_key_env=api_key_env)
        target = target_for(remote, name, digest, ds, remote=True)
        # one well-formed query first: an unreachable or refusing endpoint is bad input
        # (exit 2, nothing recorded), not a fuzzing crash finding against the model
        remote.predict_proba(held.x[:1])
        remote.queries = 0
        target.image_shape = _image_shape(dict(getattr(mv, "record", {}).get("meta") or {}), ds)
    else:
        assert mv is not None  # noqa: S101 - set above when there is no endpoint
        target = target_for(load_version(ws, mv), mv.name, mv.digest, ds)
    if len(held.y) < MIN_HELD_OUT:
        raise InputError(f"{data_ref}: only {len(held.y)} rows the model did not train on; a "
                         f"campaign needs at least {MIN_HELD_OUT} (evaluation and attacker data)")
    data = split_data((held.x, held.y), (train.x, train.y) if train is not None else None,
                      seed)
    trainer = reference_trainer(record, ds, reference) if train is not None else None
    return Setup(target, data, trainer, target.image_shape, ds.ref, ds.digest)


def _byo_members(ws: Workspace, record: dict[str, Any], held: Dataset,
                 like: dict[str, Any] | None) -> Dataset | None:
    """The registered training data of a user's own model (members), when it is not ``held``."""
    from cpmap.models.datasets import load_dataset

    for d in record.get("datasets", []):
        if d.get("role") == "train" and d.get("digest") != held.digest:
            return load_dataset(str(d["ref"]), ws, like=like, purpose="red-team members")
    return None


def check_endpoint(endpoint: str) -> None:
    """An http(s) URL with a host and no credentials (those would be printed and recorded)."""
    from urllib.parse import urlsplit

    try:
        url = urlsplit(endpoint)
        has_credentials = url.username is not None or url.password is not None
    except ValueError as e:
        raise InputError(f"--endpoint: not a valid URL: {e}") from e
    if has_credentials:
        raise InputError("--endpoint: credentials in the URL are refused (they would be "
                         "printed and recorded)", hint="pass the API key with --api-key-env")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise InputError(f"--endpoint {endpoint!r}: expected an http:// or https:// URL "
                         "with a host")


def _exists(ws: Workspace, ref: str) -> bool:
    from cpmap.registry.intake import resolve_model

    try:
        resolve_model(ws, ref)
    except InputError:
        return False
    return True
