"""Fingerprinting a large tree on Dask (``--engine dask [--scheduler ADDRESS]``).

The tree is listed once here; the files are split into groups of similar total size and each
group is hashed on a Dask worker with the same streaming :func:`hash_file` as the local path.
The per-file digests come back, are put in path order and the root digest is computed here
over the same ``sha256sum``-style listing, so the result is identical to
:func:`cpmap.provenance.fingerprint.fingerprint` by construction (a test holds it).

Workers must see the tree at the same path (a shared filesystem). Without ``--scheduler`` a
local cluster of worker processes is started on 127.0.0.1 with no dashboard, and stopped after.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cpmap.errors import InputError
from cpmap.provenance.fingerprint import FileDigest, Fingerprint, hash_file, listing, walk

ENGINES = ("local", "dask")


def check_engine(engine: str, scheduler: str | None) -> None:
    """One clear error for ``--engine`` / ``--scheduler`` that cannot run (exit 2)."""
    if engine not in ENGINES:
        raise InputError(f"--engine {engine!r}: use local or dask")
    if scheduler and engine != "dask":
        raise InputError("--scheduler needs --engine dask")


def _hash_group(items: list[tuple[str, str]]) -> list[tuple[str, str, int]]:
    """On a worker: (relative path, hex digest, size) of each (relative, absolute) file."""
    out = []
    for rel, absolute in items:
        digest, size = hash_file(Path(absolute))
        out.append((rel, digest, size))
    return out


def groups_of(entries: list[tuple[str, Path, int]], parts: int) -> list[list[tuple[str, str]]]:
    """Split files into ``parts`` groups of similar total size (largest first, greedy), so
    that one huge file and many small ones still keep every worker busy."""
    bins: list[list[tuple[str, str]]] = [[] for _ in range(max(1, parts))]
    loads = [0] * len(bins)
    for rel, path, size in sorted(entries, key=lambda e: -e[2]):
        i = loads.index(min(loads))
        bins[i].append((rel, str(path)))
        loads[i] += size + 4096  # a file costs an open() even when empty
    return [b for b in bins if b]


@contextmanager
def dask_client(scheduler: str | None = None, workers: int = 2) -> Iterator[Any]:
    """A client of ``scheduler`` (tcp://HOST:PORT), or of a local 127.0.0.1 cluster."""
    try:
        import distributed
    except ImportError as e:
        raise InputError("--engine dask needs the dask extra: pip install 'cpmap[dask]'") from e
    if scheduler:
        try:
            client: Any = _untyped(distributed.Client)(scheduler, timeout=10)
        except (OSError, TimeoutError) as e:
            raise InputError(f"--scheduler {scheduler}: cannot connect: {e}") from e
        with client:
            yield client
        return
    local = _untyped(distributed.LocalCluster)
    with local(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
               dashboard_address=None) as cluster, _untyped(distributed.Client)(cluster) as c:
        yield c


def _untyped(f: Any) -> Any:
    """distributed's constructors carry no annotations (mypy strict refuses the call)."""
    return f


def fingerprint_dask(path: Path, scheduler: str | None = None, client: Any = None,
                     workers: int = 2) -> Fingerprint:
    """Fingerprint ``path`` on Dask; the same :class:`Fingerprint` as the local engine."""
    if path.is_file():  # one file is one SHA-256 stream: nothing to distribute
        digest, size = hash_file(path)
        return Fingerprint(path, "file", (FileDigest(path.name, digest, size),), digest)
    if not path.is_dir():
        raise InputError(f"{path}: no such file or directory")
    entries = sorted(walk(path))
    if client is None:
        with dask_client(scheduler, workers) as own:
            return fingerprint_dask(path, client=own)
    parts = max(1, 4 * len(client.scheduler_info().get("workers", {}) or [1]))
    futures = client.map(_hash_group, groups_of(entries, parts), pure=False)
    hashed = sorted(row for group in client.gather(futures) for row in group)
    if [r[0] for r in hashed] != [e[0] for e in entries]:
        raise InputError(f"{path}: the workers did not hash every file (is the tree on a "
                         "filesystem they share?)")
    files = tuple(FileDigest(rel, digest, size) for rel, digest, size in hashed)
    return Fingerprint(path, "tree", files, hashlib.sha256(listing(files)).hexdigest())
