"""Reading and writing the tables CP2 works on: CSV, Parquet and JSON Lines.

Scans stream a table in chunks and keep a uniform random sample (so a 50 GB CSV costs one pass
and bounded memory); the anonymity, DP and synthesis commands load a table whole. Every parse
failure becomes one :class:`InputError` naming the file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cpmap.errors import InputError, parse_reason

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
                  ".jsonl": "jsonl", ".ndjson": "jsonl"}


def table_format(path: Path) -> str | None:
    """``csv``, ``parquet`` or ``jsonl`` by suffix; None for anything else (text)."""
    return TABLE_SUFFIXES.get(path.suffix.lower())


def _need(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"{path}: " + ("is a directory, expected a file" if path.is_dir()
                                          else "no such file"))
    fmt = table_format(path)
    if fmt is None:
        raise InputError(f"{path}: not a table (expected .csv, .tsv, .parquet or .jsonl)")
    return fmt


# A table wider than this is refused before it is parsed: per-column classification costs a few
# milliseconds, so 200k columns (a 1.9 MB file) took minutes; no PII table we know is this wide.
MAX_COLUMNS = 10_000


def check_width(path: Path, fmt: str) -> int:
    """The number of columns, from the header alone; more than MAX_COLUMNS is bad input."""
    if fmt == "csv":
        sep = b"\t" if path.suffix.lower() == ".tsv" else b","
        with path.open("rb") as fh:
            header = fh.readline(64 << 20)
        width = header.count(sep) + 1  # an upper bound (quoted separators count): fine to cap
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            width = len(pq.read_schema(path).names)
        except Exception as e:  # noqa: BLE001 - pyarrow's own error family; named below
            raise _bad(path, fmt, e) from e
    else:
        return 0  # JSON Lines: keys per row, bounded by the row reader
    if width > MAX_COLUMNS:
        raise InputError(f"{path}: {width} columns, more than the {MAX_COLUMNS} a CP2 scan "
                         "reads (split the table by column groups)")
    return width


def _bad(path: Path, fmt: str, e: Exception) -> InputError:
    return InputError(f"{path}: not a readable {fmt.upper()} table: {parse_reason(e)}")


def iter_chunks(path: Path, rows: int = 50_000, as_text: bool = False) -> Iterator[pd.DataFrame]:
    """The table in chunks of ``rows``; ``as_text`` reads every cell as a string."""
    fmt = _need(path)
    check_width(path, fmt)
    try:
        if fmt == "parquet":
            yield from _parquet_chunks(path, rows, as_text)
        elif fmt == "csv":
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            kw: dict[str, Any] = {"dtype": str, "keep_default_na": False} if as_text else {}
            with pd.read_csv(path, sep=sep, chunksize=rows, **kw) as reader:
                for chunk in reader:
                    # pandas silently turns leading extra fields into an index, which no scan,
                    # redaction or count would then see
                    if not isinstance(chunk.index, pd.RangeIndex):
                        raise InputError(f"{path}: not a readable CSV table: rows have more "
                                         f"fields than the header")
                    yield chunk
        else:
            with pd.read_json(path, lines=True, chunksize=rows,
                              dtype=False if as_text else True) as reader:
                for chunk in reader:
                    yield _text(chunk) if as_text else chunk
    except InputError:
        raise
    except (ValueError, UnicodeDecodeError, OSError, pd.errors.ParserError) as e:
        raise _bad(path, fmt, e) from e
    except Exception as e:  # pyarrow raises its own ArrowInvalid family
        if type(e).__module__.startswith("pyarrow"):
            raise _bad(path, fmt, e) from e
        raise


def _parquet_chunks(path: Path, rows: int, as_text: bool) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=rows):
            frame = batch.to_pandas()
            yield _text(frame) if as_text else frame


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as a string, a missing one as "" (as a CSV read as text has it): pandas 3's
    ``astype(str)`` keeps missing values as NaN, which string code cannot handle."""
    return frame.astype(str).fillna("")


def sample(path: Path, n: int, seed: int = 0, as_text: bool = True) -> tuple[pd.DataFrame, int]:
    """A uniform random sample of ``n`` rows, streamed; returns (sample, total rows)."""
    rng = np.random.default_rng(seed)
    kept: pd.DataFrame | None = None
    keys = np.empty(0)
    total = 0
    for chunk in iter_chunks(path, as_text=as_text):
        total += len(chunk)
        chunk_keys = rng.random(len(chunk))
        merged = chunk if kept is None else pd.concat([kept, chunk], ignore_index=True)
        all_keys = np.concatenate([keys, chunk_keys])
        if len(merged) > n:
            order = np.argpartition(all_keys, n)[:n]
            order.sort()
            merged, all_keys = merged.iloc[order].reset_index(drop=True), all_keys[order]
        kept, keys = merged, all_keys
    if kept is None:
        raise InputError(f"{path}: the table has no rows")
    return kept, total


def load(path: Path, max_rows: int = 5_000_000) -> pd.DataFrame:
    """The whole table (typed). Refuses more than ``max_rows`` rows to protect memory."""
    chunks = []
    total = 0
    for chunk in iter_chunks(path):
        total += len(chunk)
        if total > max_rows:
            raise InputError(f"{path}: more than {max_rows} rows; sample it first")
        chunks.append(chunk)
    if not chunks:
        raise InputError(f"{path}: the table has no rows")
    frame = pd.concat(chunks, ignore_index=True)
    if frame.empty:
        raise InputError(f"{path}: the table has no rows")
    return frame


def write(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` in the format of ``path``'s suffix, atomically."""
    fmt = table_format(path)
    if fmt is None:
        raise InputError(f"{path}: output must end in .csv, .tsv, .parquet or .jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        elif fmt == "csv":
            frame.to_csv(tmp, index=False, sep="\t" if path.suffix.lower() == ".tsv" else ",")
        else:
            frame.to_json(tmp, orient="records", lines=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def columns_of(frame: pd.DataFrame, names: list[str], what: str, path: Path) -> list[str]:
    """Check that ``names`` are columns of ``frame``; the error lists the real ones."""
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: {what} column(s) {', '.join(missing)} not in the table "
                         f"(columns: {', '.join(map(str, frame.columns))})")
    return names
