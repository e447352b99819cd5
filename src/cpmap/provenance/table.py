"""Canonical content digests of tables (CSV, TSV, Parquet).

Two encodings of the same rows must give the same digest: CSV or Parquet, any compression,
quoting, line endings or row-group layout. We stream record batches through pyarrow, cast every
column to a canonical text form (integers and floats by their shortest round-trip decimal, so 1
and 1.0 agree; timestamps at microseconds; empty strings as null, since CSV cannot tell them
apart), escape the separators, and hash rows as ``v1 US v2 US ... vn US`` in order. The column
names, in order, are hashed first. Row order is part of the content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cpmap.errors import InputError, parse_reason

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_US = "\x1f"
_NULL = "\\N"


class _NotText(Exception):
    """A column's bytes are not UTF-8 (the message names the file, never the bytes)."""


@dataclass(frozen=True)
class TableDigest:
    digest: str
    rows: int
    columns: tuple[str, ...]


def is_table(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in TABLE_SUFFIXES


def _batches(path: Path) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    kind = TABLE_SUFFIXES[path.suffix.lower()]
    try:
        if kind == "parquet":
            yield from pq.ParquetFile(path).iter_batches(batch_size=65536)
        else:
            delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=16 << 20),
                parse_options=pacsv.ParseOptions(delimiter=delimiter),
                convert_options=pacsv.ConvertOptions(
                    strings_can_be_null=True, null_values=[""]),
            )
            yield from reader
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{path}: not a readable {kind} table: {parse_reason(e)}") from e


def _canonical(column: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if pa.types.is_dictionary(t):
        column = column.cast(t.value_type)
        t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        column = _numeric_if_possible(column)
        t = column.type
    if pa.types.is_integer(t):
        column = column.cast(pa.int64())
    elif pa.types.is_floating(t) or pa.types.is_decimal(t):
        column = column.cast(pa.float64())
    elif pa.types.is_timestamp(t):
        column = column.cast(pa.timestamp("us", tz=t.tz))
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
        # the CSV reader infers binary for bytes that are not UTF-8 (a latin-1 export); a
        # binary column that is valid UTF-8 is text like any other
        try:
            column = column.cast(pa.large_string())
        except pa.ArrowInvalid as e:
            raise _NotText from e
    text = column.cast(pa.large_string())
    text = pc.replace_substring(text, "\\", "\\\\")
    text = pc.replace_substring(text, _US, "\\u")
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.large_string()), text)


def _numeric_if_possible(column: Any) -> Any:
    """Read an all-numeric text column as numbers, as the CSV reader's type inference does.

    Without this a Parquet string column holding "00" would differ from the same rows in CSV,
    where the reader infers an integer column.
    """
    import pyarrow as pa

    for target in (pa.int64(), pa.float64()):
        try:
            return column.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return column


def table_digest(path: Path) -> TableDigest:
    """Digest of the rows of a CSV/TSV/Parquet file, independent of encoding."""
    import pyarrow as pa
    import pyarrow.compute as pc

    h = hashlib.sha256()
    rows = 0
    columns: tuple[str, ...] | None = None
    for batch in _batches(path):
        if columns is None:
            columns = tuple(batch.schema.names)
            h.update(_US.join(columns).encode() + b"\x1e")
        if batch.num_rows == 0:
            continue
        try:
            cols = [_canonical(c) for c in batch.columns]
        except _NotText:
            raise InputError(f"{path}: not UTF-8 text (re-encode the file as UTF-8, e.g. "
                             "iconv -f latin1 -t utf-8)") from None
        try:
            joined = pc.binary_join_element_wise(
                *cols, pa.scalar("", pa.large_string()), pa.scalar(_US, pa.large_string()),
                null_handling="replace", null_replacement=_NULL,
            )
        except pa.ArrowException as e:
            raise InputError(f"{path}: cannot canonicalize rows: {parse_reason(e)}") from e
        h.update(_data_bytes(joined))
        rows += batch.num_rows
    if columns is None:
        raise InputError(f"{path}: table has no header")
    return TableDigest(h.hexdigest(), rows, columns)


def _data_bytes(array: Any) -> bytes:
    """The concatenated UTF-8 of a large_string array without per-row Python work."""
    import numpy as np

    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)
    start = int(offsets[array.offset])
    end = int(offsets[array.offset + len(array)])
    return array.buffers()[2].to_pybytes()[start:end] if end > start else b""
