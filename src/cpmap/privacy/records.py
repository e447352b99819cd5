"""DP inputs read record by record against a public schema, never through inferred dtypes.

A DP mechanism's sensitivity assumes that one record changes one record's contribution. pandas
infers a column's dtype from *every* row: one empty or ``40.5`` cell turns each ``1`` into
``1.0``, so ``astype(str)`` would move every record out of the category ``1`` (sensitivity n,
not 1). Here a table is read as text (each cell as written), and each cell is mapped on its
own against the public domain the user gave:

* a category matches its text exactly, or, when both parse as numbers, numerically (``1.0``
  counts as ``1``); anything else, a missing cell included, is :data:`OTHER`;
* a number is parsed per cell; a missing or non-numeric cell is imputed at 0 (then clamped to
  the public bounds like every value). Nothing about the data makes a query refuse: a refusal
  would be an unbudgeted, data-dependent bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

OTHER = ""  # never a category: the parsers drop empty category names
IMPUTED = 0.0  # a missing or non-numeric cell, before clamping to the public bounds


def load_text(path: Path, max_rows: int = 5_000_000) -> pd.DataFrame:
    """The whole table with every cell as its text ("" when missing)."""
    from cpmap.errors import InputError
    from cpmap.privacy.tabular import iter_chunks

    chunks, total = [], 0
    for chunk in iter_chunks(path, as_text=True):
        total += len(chunk)
        if total > max_rows:
            raise InputError(f"{path}: more than {max_rows} rows; sample it first")
        chunks.append(chunk)
    if not chunks or total == 0:
        raise InputError(f"{path}: the table has no rows")
    return pd.concat(chunks, ignore_index=True)


def _text(cell: Any) -> str:
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return OTHER
    if cell is pd.NA or cell is pd.NaT:
        return OTHER
    return str(cell).strip()


def number(cell: Any) -> float | None:
    """The finite number one cell holds, else None."""
    text = _text(cell)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def categorize(cells: Iterable[Any], categories: tuple[str, ...]) -> list[str]:
    """Each cell's category from the public list (:data:`OTHER` when none matches)."""
    exact = set(categories)
    numeric: dict[float, str] = {}
    for c in categories:
        v = number(c)
        if v is not None:
            numeric.setdefault(v, c)
    out = []
    for cell in cells:
        text = _text(cell)
        if text in exact:
            out.append(text)
            continue
        v = number(text) if numeric else None
        out.append(OTHER if v is None else numeric.get(v, OTHER))
    return out


def numbers(cells: Iterable[Any]) -> list[float]:
    """Each cell as a number, :data:`IMPUTED` when it holds none (the caller clamps)."""
    out = []
    for cell in cells:
        v = number(cell)
        out.append(IMPUTED if v is None else v)
    return out
