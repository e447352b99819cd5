"""The fingerprint command's implementation, free of typer so the fast path can use it."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def run_fingerprint(path: Path, fmt: str, output: Path | None, workers: int | None,
                    engine: str = "local", scheduler: str | None = None) -> None:
    """Hash PATH and write the in-toto statement (json) or a sha256sum-style listing (table)."""
    from cpmap.provenance.distributed import check_engine
    from cpmap.provenance.fingerprint import fingerprint, listing

    check_engine(engine, scheduler)
    if engine == "dask":
        from cpmap.provenance.distributed import fingerprint_dask

        fp = fingerprint_dask(path, scheduler, workers=workers or 2)
    elif sys.stderr.isatty():
        from cpmap.cli.common import progress

        with progress("hashing", None) as advance:
            fp = fingerprint(path, workers=workers, progress=advance)
    else:
        fp = fingerprint(path, workers=workers)
    if fmt == "table":
        text = listing(fp.files).decode() + f"root  {fp.digest}\n"
    else:
        from cpmap.provenance.manifest import statement
        from cpmap.provenance.table import is_table, table_digest

        table = table_digest(path) if is_table(path) else None
        text = json.dumps(statement(fp, table), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        from cpmap.core.workspace import atomic_write
        from cpmap.errors import InputError

        try:
            atomic_write(output, text.encode())
        except OSError as e:
            raise InputError(f"{output}: cannot write: {e.strerror}") from e
