"""The two sides of a comparison, read into one table type: a pandas DataFrame and its name.

A side is a registered CP1 dataset (``name``, ``name@N``, ``sha256:<hex>``: opened through CP1,
which re-checks its bytes and records the access), a file (CSV, Parquet, JSON Lines, ``.npz``
with arrays ``x`` and ``y``), or a window of the gateway's prediction log (:mod:`.predlog`).
Columns are typed once here: numbers with more than a handful of values are numeric, the rest
categorical.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.drift.policy import DriftPolicy
from cpmap.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from cpmap.core.workspace import Workspace

TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".jsonl", ".ndjson", ".npz")


@dataclass(frozen=True)
class Side:
    """One side of a comparison: its rows, what it is, and the digest of its bytes (if any)."""

    frame: pd.DataFrame
    name: str
    digest: str = ""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "rows": len(self.frame), "columns": len(self.frame.columns),
                **({"digest": self.digest} if self.digest else {})}


def read_file(path: Path) -> pd.DataFrame:
    """A table from a file; one clear error naming the file otherwise."""
    import pandas as pd

    suffix = path.suffix.lower()
    if path.is_dir():
        return _read_dir(path)
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"{path}: unsupported table format (use CSV, Parquet, JSON Lines or "
                         ".npz)")
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True)
        return _npz(path)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - pandas/pyarrow raise many types on bad files
        raise InputError(f"{path}: cannot read table: {type(e).__name__}: "
                         f"{str(e).splitlines()[0][:160] if str(e) else 'empty'}") from e


def _read_dir(path: Path) -> pd.DataFrame:
    import pandas as pd

    parts = sorted(p for p in path.rglob("*.parquet"))
    if parts:
        try:
            return pd.read_parquet(path)
        except Exception as e:  # noqa: BLE001
            raise InputError(f"{path}: cannot read partitioned Parquet: {e}") from e
    tables = sorted(p for p in path.rglob("*") if p.suffix.lower() in TABLE_SUFFIXES)
    if len(tables) != 1:
        raise InputError(f"{path}: holds {len(tables)} tables; name one of them")
    return read_file(tables[0])


def _npz(path: Path) -> pd.DataFrame:
    import pandas as pd

    with np.load(path, allow_pickle=False) as data:
        if "x" not in data.files:
            raise InputError(f"{path}: needs an array x (found {sorted(data.files)})")
        x = np.asarray(data["x"], dtype=np.float64).reshape(len(data["x"]), -1)
        frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
        if "y" in data.files and len(data["y"]) == len(x):
            frame["label"] = np.asarray(data["y"]).astype(str)
    return frame


def open_side(ref: str, ws: Workspace | None) -> Side:
    """A file path, else a registered dataset of the workspace."""
    path = Path(ref)
    if path.exists():
        from cpmap.provenance.fingerprint import fingerprint

        return Side(read_file(path), str(path), fingerprint(path).digest)
    if ws is None:
        raise InputError(f"{ref}: no such file, and no workspace to look the dataset up in")
    if "/" in ref or "\\" in ref:
        raise InputError(f"{ref}: no such file or directory")
    from cpmap.provenance.datasets import open_dataset

    dv = open_dataset(ref, ws, purpose="drift monitoring")
    return Side(read_file(Path(dv.path)), dv.ref, dv.digest)


def column_kinds(ref: pd.DataFrame, cur: pd.DataFrame,
                 policy: DriftPolicy) -> dict[str, str]:
    """The shared columns and their kind, judged on the reference (and the current side)."""
    import pandas as pd

    kinds: dict[str, str] = {}
    for col in ref.columns:
        if col not in cur.columns:
            continue
        s = ref[col]
        numeric = (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                   and pd.api.types.is_numeric_dtype(cur[col]))
        few = (pd.api.types.is_integer_dtype(s)
               and s.nunique(dropna=True) <= policy.categorical_max_levels)
        kinds[str(col)] = "numeric" if numeric and not few else "categorical"
    if not kinds:
        raise InputError("the two sides share no column (reference: "
                         f"{list(ref.columns)[:6]}, current: {list(cur.columns)[:6]})")
    return kinds
