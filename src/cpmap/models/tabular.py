"""Readers for dataset files: .npz arrays, CSV/Parquet tables, image folders.

Nothing here unpickles (``np.load(allow_pickle=False)``); a table's preprocessing (columns,
min/max, one-hot categories) is returned as plain data so that a model can apply exactly the
same transformation to new rows (:func:`apply_preprocess`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cpmap.errors import InputError, parse_reason

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
MAX_CATEGORIES = 12
MAX_IMAGE_SIDE = 128


def encode_labels(raw: np.ndarray, where: str,
                  min_classes: int = 2) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as 0..k-1 in sorted order of their values (a training set needs 2 classes)."""
    values, y = np.unique(np.asarray(raw).astype(str) if raw.dtype.kind in "OUS" else raw,
                          return_inverse=True)
    if len(values) < min_classes:
        raise InputError(f"{where}: the label needs at least two classes")
    if len(values) > 1000:
        raise InputError(f"{where}: {len(values)} label values; is this really a class column?")
    return y.astype(np.int64), tuple(str(v) for v in values)


MAX_NPZ_ARRAY_BYTES = 8 << 30  # a training array larger than 8 GiB is refused, not allocated


def check_npz_headers(path: Path) -> None:
    """Refuse an array whose header claims more bytes than its member holds or than
    MAX_NPZ_ARRAY_BYTES: numpy allocates the claimed size before reading a zip member, so a
    500-byte file claiming 35 PiB was a MemoryError (exit 3)."""
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _order, dtype = read(fh, max_header_size=10_000)
                claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if claimed > MAX_NPZ_ARRAY_BYTES or claimed > info.file_size:
                    raise InputError(f"{path}: array {info.filename[:60]!r} claims {claimed} "
                                     f"bytes but its member holds {info.file_size} (limit "
                                     f"{MAX_NPZ_ARRAY_BYTES})")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: not a readable .npz without pickles: "
                         f"{parse_reason(e)}") from e


def read_npz(path: Path, label: str | None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    check_npz_headers(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            xk = next((k for k in ("x", "X", "data", "features") if k in keys), None)
            yk = label or next((k for k in ("y", "Y", "labels", "target") if k in keys), None)
            if label is not None and label not in keys:
                raise InputError(f"{path}: no label array {label!r} (found {sorted(keys)})")
            if xk is None or yk is None or yk not in keys:
                raise InputError(f"{path}: needs arrays x and y (found {sorted(keys)})")
            x = np.asarray(data[xk], dtype=np.float32)
            raw = np.asarray(data[yk])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, MemoryError) as e:
        # np.load raises EOFError on an empty file, BadZipFile on a truncated archive
        raise InputError(f"{path}: not a readable .npz without pickles: "
                         f"{parse_reason(e) if str(e) else 'empty'}") from e
    if x.ndim == 0 or raw.ndim == 0:
        raise InputError(f"{path}: x and y must be arrays of rows, not scalars")
    x = x.reshape(len(x), -1)
    if len(x) != len(raw) or not np.isfinite(x).all():
        raise InputError(f"{path}: x and y lengths differ or x holds NaN/inf")
    y, classes = encode_labels(raw, str(path))
    return x, y, classes


def _frame(path: Path) -> Any:
    import pandas as pd

    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - pandas/pyarrow raise many types on bad files
        raise InputError(f"{path}: cannot read table: {type(e).__name__}: {e}") from e


def read_frame(path: Path) -> Any:
    """A CSV or Parquet table (a registered tree holding one table: that table)."""
    if path.is_dir():
        tables = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".csv", ".parquet"))
        if len(tables) != 1:
            raise InputError(f"{path}: holds {len(tables)} tables; register the one table")
        path = tables[0]
    return _frame(path)


def _identifier_like(col: Any) -> bool:
    """Whole numbers, distinct on every row (customer ids, card numbers): not features."""
    return bool(col.dtype.kind in "iu" and len(col) >= 50 and col.nunique() == len(col))


def fit_preprocess(frame: Any, label: str,
                   features: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Decide the feature columns of a table: numbers scaled, small categoricals one-hot.

    Without an explicit ``features`` list, free text and identifier-like columns are dropped
    (and listed), so that names, e-mails or card numbers never become model inputs.
    """
    columns: list[dict[str, Any]] = []
    dropped: list[str] = []
    for name in frame.columns:
        if name == label:
            continue
        col = frame[name]
        if features is not None and name not in features:
            dropped.append(str(name))
        elif col.dtype.kind in "biuf" and (features is not None or not _identifier_like(col)):
            vals = col.to_numpy(dtype=np.float64)
            vals = vals[np.isfinite(vals)]  # inf/NaN must not become the scale (inf/inf = NaN)
            if not vals.size:
                dropped.append(str(name))
                continue
            lo, hi = float(vals.min()), float(vals.max())
            columns.append({"name": str(name), "kind": "numeric", "min": lo, "max": hi})
        elif 1 < col.nunique() <= MAX_CATEGORIES:
            cats = sorted(str(c) for c in col.dropna().unique())
            columns.append({"name": str(name), "kind": "onehot", "categories": cats})
        else:
            dropped.append(str(name))
    if not columns:
        raise InputError(f"table has no usable feature columns besides {label!r}")
    return {"type": "tabular", "label": label, "columns": columns, "dropped": dropped}


def apply_preprocess(frame: Any, pre: dict[str, Any]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Feature rows in [0, 1] for ``frame`` as fitted by :func:`fit_preprocess`."""
    parts: list[np.ndarray] = []
    names: list[str] = []
    for c in pre["columns"]:
        if c["name"] not in frame.columns:
            raise InputError(f"table: missing feature column {c['name']!r}")
        col = frame[c["name"]]
        if c["kind"] == "numeric":
            span = (c["max"] - c["min"]) or 1.0
            v = (col.to_numpy(dtype=np.float64) - c["min"]) / span
            parts.append(np.nan_to_num(np.clip(v, 0.0, 1.0), nan=0.0)[:, None])
            names.append(c["name"])
        else:
            text = col.astype(str).to_numpy()
            parts.append(np.stack([text == cat for cat in c["categories"]], axis=1))
            names += [f"{c['name']}={cat}" for cat in c["categories"]]
    return np.concatenate(parts, axis=1).astype(np.float32), tuple(names)


def read_table(path: Path, label: str, features: tuple[str, ...] | None = None,
               preprocess: dict[str, Any] | None = None
               ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...],
                          dict[str, Any]]:
    frame = _frame(path)
    if label not in frame.columns:
        raise InputError(f"{path}: no label column {label!r} (columns: "
                         f"{', '.join(map(str, frame.columns[:12]))})")
    frame = frame[frame[label].notna()]
    try:
        pre = preprocess or fit_preprocess(frame, label, features)
        x, names = apply_preprocess(frame, pre)
    except InputError as e:
        raise InputError(f"{path}: {e.message}") from e
    y, classes = encode_labels(frame[label].to_numpy(), str(path), 1 if preprocess else 2)
    return x, y, classes, names, pre


def read_images(root: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...],
                                     tuple[int, int, int]]:
    """Grayscale images from ``root/<class>/*``, resized to the first image's size."""
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise InputError(f"{root}: an image folder needs one subfolder per class (2 or more)")
    rows: list[np.ndarray] = []
    labels: list[int] = []
    size: tuple[int, int] | None = None
    for i, cls in enumerate(classes):
        for f in sorted((root / cls).iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(f) as im:
                    im.draft("L", (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
                    img = im.convert("L")
                    if size is None:
                        w, h = img.size
                        scale = min(1.0, MAX_IMAGE_SIDE / max(w, h))
                        size = (max(1, int(w * scale)), max(1, int(h * scale)))
                    img = img.resize(size)
            except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
                raise InputError(f"{f}: not a readable image: {e}") from e
            rows.append(np.asarray(img, dtype=np.float32).reshape(-1) / 255.0)
            labels.append(i)
    if not rows or size is None:
        raise InputError(f"{root}: no images found")
    present = set(labels)
    empty = [cls for i, cls in enumerate(classes) if i not in present]
    if empty:  # a class without images would silently train a model that never predicts it
        raise InputError(f"{root}: class folder(s) without images: {', '.join(empty)}")
    return (np.stack(rows), np.asarray(labels, np.int64), tuple(classes),
            (1, size[1], size[0]))
