"""Streaming SHA-256 fingerprints of files and directory trees.

Files are read in 1 MiB chunks into one reused buffer (``readinto``): no per-chunk allocation,
and hashlib releases the GIL on large updates, so a thread pool hashes several files at once on
all cores. The root digest of a tree is the SHA-256 of its ``sha256sum``-style listing
(``<hex>  <relative posix path>\\n`` sorted by path), so that anyone can recompute it with
coreutils: ``(cd DIR && find . -type f | sort | xargs sha256sum) | sha256sum`` gives the same
bytes modulo the ``./`` prefix.

This module imports only the standard library: ``cpmap data fingerprint`` must start fast.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cpmap.errors import InputError

CHUNK = 1 << 20
SKIP_DIRS = frozenset({".cpmap", ".git"})
SMALL_FILE = 256 << 10  # average file size below which one thread is fastest
_local = threading.local()


def _buffer() -> tuple[bytearray, memoryview]:
    """One read buffer per thread: allocating 1 MiB per file dominates on small files."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(CHUNK)
        _local.view = memoryview(buf)
    return buf, _local.view


@dataclass(frozen=True)
class FileDigest:
    path: str  # relative posix path ("" for a single file fingerprinted by itself)
    sha256: str
    size: int


@dataclass(frozen=True)
class Fingerprint:
    """Digests of every file under ``root`` and the root digest over them."""

    root: Path
    kind: str  # "file" or "tree"
    files: tuple[FileDigest, ...]
    digest: str

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def hash_file(path: Path, progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Return (hex sha256, size) of a file, streamed."""
    h = hashlib.sha256()
    buf, view = _buffer()
    size = 0
    try:
        with path.open("rb", buffering=0) as fh:
            while n := fh.readinto(buf):
                h.update(view[:n])
                size += n
                if progress is not None:
                    progress(n)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from e
    return h.hexdigest(), size


def listing(files: tuple[FileDigest, ...]) -> bytes:
    return "".join(f"{f.sha256}  {f.path}\n" for f in files).encode()


def walk(root: Path) -> Iterator[tuple[str, Path, int]]:
    """(relative posix path, absolute path, size) of every regular file under ``root``.

    Symbolic links are not followed: a dataset must not silently include files from elsewhere.
    """
    stack = [(root, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as it:
                for e in it:
                    rel = f"{prefix}{e.name}"
                    if e.is_dir(follow_symlinks=False):
                        if e.name not in SKIP_DIRS:
                            stack.append((Path(e.path), rel + "/"))
                    elif e.is_file(follow_symlinks=False):
                        yield rel, Path(e.path), e.stat(follow_symlinks=False).st_size
        except OSError as ex:
            raise InputError(f"{directory}: cannot list: {ex.strerror}") from ex


def fingerprint(
    path: Path,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> Fingerprint:
    """Fingerprint a file or a directory tree."""
    if workers is not None and not 1 <= workers <= 256:
        raise InputError(f"--workers {workers}: must be in 1..256")
    if path.is_file():
        if on_total is not None:
            on_total(path.stat().st_size)
        digest, size = hash_file(path, progress)
        return Fingerprint(path, "file", (FileDigest(path.name, digest, size),), digest)
    if not path.is_dir():
        raise InputError(f"{path}: no such file or directory")
    entries = sorted(walk(path))
    total = sum(e[2] for e in entries)
    if on_total is not None:
        on_total(total)
    n = workers or _default_workers(len(entries), total)

    def one(item: tuple[str, Path, int]) -> FileDigest:
        digest, size = hash_file(item[1], progress)
        return FileDigest(item[0], digest, size)

    if n <= 1 or len(entries) <= 1:
        files = tuple(map(one, entries))
    else:
        with ThreadPoolExecutor(max_workers=n) as pool:
            files = tuple(pool.map(one, entries, chunksize=64))
    return Fingerprint(path, "tree", files, hashlib.sha256(listing(files)).hexdigest())


def _default_workers(count: int, total: int) -> int:
    """Threads pay off when hashing dominates; for many small files they only add overhead."""
    if count == 0 or total / count < SMALL_FILE:
        return 1
    return min(32, (os.cpu_count() or 1) + 1)


@dataclass(frozen=True)
class Diff:
    modified: tuple[str, ...]
    missing: tuple[str, ...]
    added: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return not (self.modified or self.missing or self.added)


def diff(expected: dict[str, str], actual: dict[str, str]) -> Diff:
    """Compare path -> digest maps."""
    return Diff(
        modified=tuple(sorted(p for p in expected.keys() & actual.keys()
                              if expected[p] != actual[p])),
        missing=tuple(sorted(expected.keys() - actual.keys())),
        added=tuple(sorted(actual.keys() - expected.keys())),
    )
