"""Atomic streaming writers: chunks go to a temporary file renamed into place on commit.

A redaction killed half-way leaves the previous output (or none), never half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from cpmap.errors import InputError


def check_output(out: Path, src: Path | None = None) -> None:
    """Refuse an output path that cannot be written, before anything is registered or spent."""
    if src is not None and out.resolve() == src.resolve():
        raise InputError(f"{out}: the output must not overwrite the input")
    if out.is_dir():
        raise InputError(f"{out}: is a directory, expected a file path")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{out}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{out}: cannot write in {parent}")


class TableWriter:
    """Append chunks to a temporary file in the output's format; ``commit`` renames it."""

    def __init__(self, out: Path) -> None:
        from cpmap.privacy.tabular import table_format

        fmt = table_format(out)
        if fmt is None:
            raise InputError(f"{out}: output must end in .csv, .tsv, .parquet or .jsonl")
        self.fmt, self.out = fmt, out
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=out.suffix)
        os.close(fd)
        self.tmp = Path(tmp)
        self._pq: Any = None
        self._first = True

    def write(self, chunk: pd.DataFrame) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if self._pq is None:
                self._pq = pq.ParquetWriter(self.tmp, table.schema)
            self._pq.write_table(table.cast(self._pq.schema))
        elif self.fmt == "csv":
            sep = "\t" if self.out.suffix.lower() == ".tsv" else ","
            chunk.to_csv(self.tmp, mode="w" if self._first else "a", header=self._first,
                         index=False, sep=sep)
        else:
            with self.tmp.open("w" if self._first else "a") as fh:
                chunk.to_json(fh, orient="records", lines=True)
                fh.write("" if chunk.empty else "\n")
        self._first = False

    def commit(self) -> None:
        if self._pq is not None:
            self._pq.close()
        os.chmod(self.tmp, 0o644)  # mkstemp made it 0600; a dataset is an ordinary file
        os.replace(self.tmp, self.out)

    def abort(self) -> None:
        if self._pq is not None:
            self._pq.close()
        self.tmp.unlink(missing_ok=True)


class TextWriter:
    """UTF-8 text, written as it comes."""

    def __init__(self, out: Path) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
        self.out, self.tmp = out, Path(tmp)
        self.fh = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def write(self, text: str) -> None:
        if text:
            self.fh.write(text)

    def commit(self) -> None:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.out)

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)
