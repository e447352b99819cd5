"""PII scanning and redaction of partitioned tables on Dask workers.

Scanning (:func:`scan_files_dask`) sends each file, a part of a partitioned table or a
document, to a worker. Redaction works on one Parquet table whose row groups are the
partitions:

The columns to redact (:func:`cpmap.privacy.plan.table_targets`, from the usual seeded
sample) are decided once, here; then each task reads a group of the table's row groups on a
worker, applies the same :func:`~cpmap.privacy.plan.transform_chunk` as the single-process
path and writes one part file of the output dataset (a directory ``part-NNNNN.parquet``, in
row order). Counts come back and are summed. Every replacement is a keyed, deterministic
function of the cell (mask, HMAC pseudonym, seeded fake), so the rows are exactly those of
:func:`cpmap.privacy.redact.redact_table_file` (a test holds it); ``encrypt`` uses a random
nonce per value on either path.

The workspace's pseudonym key travels to the workers with the tasks: use a local cluster on
127.0.0.1 (the default) or a scheduler whose connections are TLS-protected and trusted, as
Dask's own messages are pickles. The output directory appears only when every part is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.privacy.detect import Analyzer
    from cpmap.privacy.plan import Plan, Target
    from cpmap.privacy.scan import FileResult
    from cpmap.privacy.transform import Replacer


def _redact_part(src: str, groups: list[int], part: str, targets: list[Target],
                 analyzer: Analyzer, plan: Plan, rep: Replacer) -> dict[str, int]:
    """On a worker: redact row groups ``groups`` of ``src`` into the file ``part``."""
    import pyarrow.parquet as pq

    from cpmap.privacy.plan import transform_chunk

    counts: Counter[str] = Counter()
    with pq.ParquetFile(src) as pf:
        frame = pf.read_row_groups(groups).to_pandas()
    transform_chunk(frame, targets, analyzer, plan, rep, counts).to_parquet(part, index=False)
    return dict(counts)


def row_group_tasks(src: Path, parts: int) -> list[list[int]]:
    """Consecutive row groups split into at most ``parts`` tasks (row order is kept)."""
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(src) as pf:
            n = pf.num_row_groups
    except Exception as e:  # noqa: BLE001 - pyarrow's errors: one clear line
        raise InputError(f"{src}: not a readable Parquet file: {e}") from e
    size = max(1, -(-n // max(1, parts)))
    return [list(range(lo, min(n, lo + size))) for lo in range(0, n, size)]


def redact_table_dask(src: Path, out: Path, analyzer: Analyzer, plan: Plan, rep: Replacer, *,
                      targets: list[Target] | None = None, sample_rows: int = 10_000,
                      client: Any = None, scheduler: str | None = None,
                      workers: int = 2) -> tuple[list[Target], Counter[str]]:
    """Redact the Parquet table ``src`` into the directory ``out`` on Dask."""
    from cpmap.privacy.plan import table_targets

    if src.suffix.lower() != ".parquet" or not src.is_file():
        raise InputError(f"{src}: --engine dask redacts a Parquet file (its row groups are "
                         "the partitions)")
    if out.exists():
        raise InputError(f"{out}: already exists; choose a new output directory")
    if targets is None:
        targets = table_targets(src, analyzer, plan, sample_rows)
    if client is None:
        from cpmap.provenance.distributed import dask_client

        with dask_client(scheduler, workers) as own:
            return redact_table_dask(src, out, analyzer, plan, rep, targets=targets,
                                     client=own)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        nworkers = len(client.scheduler_info().get("workers", {})) or 1
        tasks = row_group_tasks(src, 4 * nworkers)
        futures = [client.submit(_redact_part, str(src), groups,
                                 str(tmp / f"part-{i:05d}.parquet"), targets, analyzer, plan,
                                 rep, pure=False) for i, groups in enumerate(tasks)]
        counts: Counter[str] = Counter()
        for got in client.gather(futures):
            counts.update(got)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return targets, counts


def redact_table_dask_file(src: Path, out: Path, analyzer: Analyzer, plan: Plan,
                           rep: Replacer, targets: list[Target], *, client: Any = None,
                           scheduler: str | None = None,
                           workers: int = 2) -> tuple[list[Target], Counter[str]]:
    """Redact on Dask into one Parquet file ``out`` (``cpmap privacy redact --engine dask``).

    The workers write their parts into a temporary directory next to ``out``; the parts are
    then streamed, in row order and one record batch at a time, through the same
    :class:`~cpmap.privacy.writers.TableWriter` as the single-process path, so ``out`` holds
    exactly its rows and the rest of the redaction (lineage, survival check, re-scan,
    evidence) is unchanged. Nothing appears at ``out`` unless every part was written."""
    import pyarrow.parquet as pq

    from cpmap.privacy.writers import TableWriter

    if out.suffix.lower() != ".parquet":
        raise InputError(f"{out}: --engine dask writes a Parquet table (.parquet)")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.parts."))
    try:
        targets, counts = redact_table_dask(src, work / "parts", analyzer, plan, rep,
                                            targets=targets, client=client,
                                            scheduler=scheduler, workers=workers)
        writer = TableWriter(out)
        try:
            for part in sorted((work / "parts").iterdir()):
                with pq.ParquetFile(part) as pf:
                    for batch in pf.iter_batches(batch_size=50_000):
                        writer.write(batch.to_pandas())
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return targets, counts


def scan_files_dask(files: list[Path], analyzer: Analyzer, sample_rows: int, max_hits: int,
                    *, client: Any = None, scheduler: str | None = None,
                    workers: int = 2) -> list[FileResult]:
    """Scan ``files`` (the parts of a partitioned table, a tree of documents) on Dask: each
    file on a worker with the same :func:`~cpmap.privacy.scan.scan_path` as the
    single-process path, results back in the order of ``files`` (identical by construction).
    Workers must see the files at the same paths (a shared filesystem)."""
    from cpmap.privacy.scan import scan_path

    if client is None:
        from cpmap.provenance.distributed import dask_client

        with dask_client(scheduler, workers) as own:
            return scan_files_dask(files, analyzer, sample_rows, max_hits, client=own)
    futures = client.map(scan_path, [Path(f) for f in files], analyzer=analyzer,
                         sample_rows=sample_rows, max_hits=max_hits, pure=False)
    return list(client.gather(futures))
