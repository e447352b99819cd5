"""Datasets by reference, turned into float32 feature rows and integer labels.

References: ``builtin:digits``, ``builtin:customers``, a registered CP1 dataset (``name``,
``name@N``, ``sha256:<hex>``) or a path (``.npz``, CSV/Parquet with a label column, an image
folder with one subfolder per class). With a workspace every dataset is registered (idempotent
by digest) and opened through CP1, which re-checks its bytes and records the access, so a model
links to the exact data it saw by digest.

A built-in dataset brings its :class:`Schema` (the digits' 8x8 image shape, the customer table's
model columns and label); so does a dataset registered from a built-in source. Nothing depends on
what a dataset is called.

Tabular features are min-max scaled to [0, 1] (small categoricals one-hot, identifier-like text
columns dropped), so that attack budgets (eps) mean the same share of every feature's range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.errors import InputError
from cpmap.models.tabular import IMAGE_SUFFIXES, read_images, read_npz, read_table

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

DATA_SUFFIXES = frozenset({".npz", ".csv", ".parquet", ".pq"})
# The customer table's model inputs: its numbers and gender; identifiers, contact details and
# the zip/city quasi-identifiers stay out.
CUSTOMER_FEATURES = ("age", "gender", "income", "loan_amount", "credit_score")


@dataclass(frozen=True)
class Schema:
    """What a file does not say about itself: its default label column, the image shape of its
    flat rows, the table columns a model reads. Known for the built-in datasets, and for a
    registered dataset through the source recorded when it was registered (its own metadata),
    never guessed from a dataset's name."""

    label: str | None = None
    image_shape: tuple[int, int, int] | None = None
    features: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Builtin:
    name: str  # the dataset name it is registered under
    filename: str
    schema: Schema


NO_SCHEMA = Schema()
BUILTINS = {"builtin:digits": Builtin("digits", "digits.npz", Schema(image_shape=(1, 8, 8))),
            "builtin:customers": Builtin("customers", "customers.csv",
                                         Schema("default", features=CUSTOMER_FEATURES))}


def schema_of_source(source: str) -> Schema:
    """The schema of a dataset registered from ``source`` (a built-in's, else none)."""
    known = BUILTINS.get(source)
    return known.schema if known is not None else NO_SCHEMA


@dataclass(frozen=True)
class Dataset:
    """Feature rows ``x`` (float32 [n, d]) and labels ``y`` (int64 in 0..k-1) with provenance."""

    ref: str
    digest: str
    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    feature_names: tuple[str, ...] = ()
    bounds: tuple[float, float] = (0.0, 1.0)
    image_shape: tuple[int, int, int] | None = None
    preprocess: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def input_dim(self) -> int:
        return int(self.x.shape[1])

    def meta(self) -> dict[str, Any]:
        """What a model trained on this data must remember to be used and attacked later."""
        return {"classes": list(self.classes), "feature_names": list(self.feature_names),
                "bounds": list(self.bounds),
                "image_shape": list(self.image_shape) if self.image_shape else None,
                "preprocess": self.preprocess, "dataset": self.ref, "dataset_digest": self.digest}

    def split(self, test_size: float = 0.25, seed: int = 0) -> tuple[Dataset, Dataset]:
        """A seeded, stratified train/test split."""
        rng = np.random.default_rng(seed)
        test_idx: list[np.ndarray] = []
        for c in range(self.n_classes):
            idx = np.flatnonzero(self.y == c)
            rng.shuffle(idx)
            test_idx.append(idx[: int(round(len(idx) * test_size))])
        test = np.sort(np.concatenate(test_idx)) if test_idx else np.array([], np.int64)
        mask = np.ones(len(self.y), bool)
        mask[test] = False
        return self.subset(np.flatnonzero(mask)), self.subset(test)

    def subset(self, idx: np.ndarray) -> Dataset:
        return replace(self, x=self.x[idx], y=self.y[idx])


def _name_for(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.") or "dataset"


def resolve(ref: str, ws: Workspace | None, *, purpose: str = "",
            principal: str | None = None) -> tuple[Path, str, str, Schema]:
    """(path, ref, digest, schema) of a dataset reference; registered when possible."""
    if ref in BUILTINS:
        known = BUILTINS[ref]
        base = ws.dir / "data" / "builtin" if ws is not None else None
        if base is None:
            import tempfile

            base = Path(tempfile.mkdtemp(prefix="cpmap-builtin-"))
        path = base / known.filename
        if not path.exists():
            from cpmap import builtin

            getattr(builtin, f"write_{known.name}")(path)
        return (*_register(ws, known.name, path, ref, purpose, principal), known.schema)
    path = Path(ref)
    if path.exists():
        return (*_register(ws, _name_for(path), path, None, purpose, principal), NO_SCHEMA)
    if ws is None:
        raise InputError(f"{ref}: no such file, and no workspace to look the dataset up in")
    if "/" in ref or "\\" in ref:  # dataset names cannot hold a path separator
        raise InputError(f"{ref}: no such file or directory")
    from cpmap.provenance.datasets import open_dataset

    dv = open_dataset(ref, ws, principal=principal, purpose=purpose or "model training")
    return Path(dv.path), dv.ref, dv.digest, schema_of_source(dv.source)


def _register(ws: Workspace | None, name: str, path: Path, source: str | None, purpose: str,
              principal: str | None) -> tuple[Path, str, str]:
    if ws is None:
        from cpmap.provenance.fingerprint import fingerprint

        return path, str(path), fingerprint(path).digest
    from cpmap.provenance.datasets import open_dataset, register_dataset

    dv = register_dataset(ws, name, path, source=source)
    dv = open_dataset(dv.ref, ws, principal=principal, purpose=purpose or "model training")
    return Path(dv.path), dv.ref, dv.digest


def load_dataset(ref: str, ws: Workspace | None = None, *, label: str | None = None,
                 purpose: str = "", principal: str | None = None,
                 like: dict[str, Any] | None = None) -> Dataset:
    """Resolve, verify and read a dataset reference into feature rows and labels.

    ``like`` is a model's metadata: its table preprocessing is applied instead of refitting,
    and labels are numbered in the model's class order, so rows mean what they meant in
    training.
    """
    pre = (like or {}).get("preprocess") or {}
    if pre.get("type") == "tabular":
        label = label or pre.get("label")
    if ws is not None and ref not in BUILTINS and Path(ref).exists():
        # a file that is not a usable dataset must not be registered (bad input changes nothing)
        read_path(Path(ref), ref, "", label, pre if pre.get("type") == "tabular" else None)
    path, name, digest, schema = resolve(ref, ws, purpose=purpose, principal=principal)
    ds = read_path(path, name, digest, label or schema.label,
                   pre if pre.get("type") == "tabular" else None, schema=schema)
    classes = [str(c) for c in (like or {}).get("classes") or []]
    return _in_class_order(ds, classes) if classes else ds


def _in_class_order(ds: Dataset, classes: list[str]) -> Dataset:
    if tuple(classes) == ds.classes:
        return ds
    index = {c: i for i, c in enumerate(classes)}
    missing = [c for c in ds.classes if c not in index]
    if missing:
        raise InputError(f"{ds.ref}: label values {missing[:5]} are not classes of the model")
    remap = np.asarray([index[c] for c in ds.classes], dtype=np.int64)
    return replace(ds, y=remap[ds.y], classes=tuple(classes))


def _single_data_file(root: Path) -> Path | None:
    """The one .npz/.csv/.parquet file of a folder without class subfolders, if that is all."""
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    if any(p.is_dir() for p in entries):
        return None
    data = [p for p in entries if p.suffix.lower() in DATA_SUFFIXES]
    if len(data) > 1:
        raise InputError(f"{root}: holds {len(data)} data files; name one of them")
    return data[0] if data else None


def read_path(path: Path, ref: str, digest: str, label: str | None,
              preprocess: dict[str, Any] | None = None, *,
              schema: Schema = NO_SCHEMA) -> Dataset:
    """Read one resolved dataset file or folder; ``schema`` fills in what the file cannot say."""
    if path.is_dir() and (single := _single_data_file(path)) is not None:
        path = single  # a registered tree holding one data file (e.g. data/digits/digits.npz)
    suffix = path.suffix.lower()
    if path.is_dir():
        x, y, classes, shape = read_images(path)
        return Dataset(ref, digest, x, y, classes, (), (0.0, 1.0), shape,
                       {"type": "image", "image_shape": list(shape)})
    if suffix == ".npz":
        x, y, classes = read_npz(path, label)
        known = schema.image_shape
        square = known if known and known[0] * known[1] * known[2] == x.shape[1] else None
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
        return Dataset(ref, digest, x, y, classes, (), (lo, hi), square, {"type": "array"})
    if suffix in (".csv", ".parquet", ".pq"):
        if not label:
            raise InputError(f"{path}: tables need --label COLUMN naming the class column")
        x, y, classes, names, pre = read_table(path, label, schema.features, preprocess)
        return Dataset(ref, digest, x, y, classes, names, (0.0, 1.0), None, pre)
    if suffix in IMAGE_SUFFIXES:
        raise InputError(f"{path}: give the folder of class subfolders, not one image")
    raise InputError(f"{path}: unsupported dataset format (use .npz, .csv, .parquet or an "
                     "image folder)")
