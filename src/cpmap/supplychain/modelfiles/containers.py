"""Containers that hold pickles: zip (torch, npz, keras), legacy torch tar, and numpy .npy.

Archives are read with limits: member count, path traversal, duplicate names (two parsers may
pick different entries), compression ratio. Torch tensor storages (``<prefix>/data/<n>``) are
never opened: only the pickles that describe them are, so a 1 GB checkpoint costs a few kB.
"""

from __future__ import annotations

import ast
import io
import math
import posixpath
import re
import struct
import tarfile
import zipfile
from collections.abc import Callable
from typing import IO, Any

from cpmap.supplychain.modelfiles.pickles import Scanner
from cpmap.supplychain.modelfiles.report import Collector, ModelVerdict

MAX_MEMBERS = 100_000
MAX_MEMBER_SCAN = 4 << 30
MAX_NESTED_ARCHIVE = 256 << 20
MAX_RATIO = 200
_STORAGE = re.compile(r"(?:^|/)data/\d+\Z")
NPY_MAGIC = b"\x93NUMPY"

# A callback that scans an in-memory nested file (an archive in an archive) by content.
NestedScan = Callable[[bytes, str, Collector, int], None]


def unsafe_member_name(name: str) -> bool:
    """Absolute paths, drive letters, backslashes and '..' escape the extraction directory."""
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or "\\" in name:
        return True
    return ".." in posixpath.normpath(name).split("/")


def scan_zip(fh: IO[bytes], col: Collector, where: str, nested: NestedScan,
             depth: int = 0) -> str:
    """Scan a zip's pickles, .npy members and nested archives; return the detected format."""
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        col.add(ModelVerdict.SUSPICIOUS, "bad-archive", f"unreadable zip: {e}", where)
        return "zip"
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            col.add(ModelVerdict.SUSPICIOUS, "archive-limit",
                    f"{len(infos)} members (limit {MAX_MEMBERS})", where)
            return "zip"
        names = [i.filename for i in infos]
        _check_names(names, col, where)
        pkl_dirs = {posixpath.dirname(n) for n in names if n.endswith("data.pkl")}
        fmt = "torch-zip" if pkl_dirs else "zip"
        for info in infos:
            if info.is_dir():
                continue
            prefix = info.filename.rsplit("/data/", 1)[0] if "/data/" in info.filename else None
            if _STORAGE.search(info.filename) and (prefix in pkl_dirs or "" in pkl_dirs):
                continue  # a tensor storage: raw bytes torch never unpickles
            _scan_member(zf, info, col, _join(where, info.filename), nested, depth)
    return fmt


def _join(where: str, member: str) -> str:
    return f"{where}/{member}" if where else member


def _check_names(names: list[str], col: Collector, where: str) -> None:
    for n in names:
        if unsafe_member_name(n):
            col.add(ModelVerdict.SUSPICIOUS, "path-traversal",
                    f"member {n!r} escapes the archive directory", where)
    if len(set(names)) != len(names):
        col.add(ModelVerdict.SUSPICIOUS, "duplicate-member",
                "duplicate member names: loaders may read a different entry than this scan",
                where)


def _scan_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, col: Collector, where: str,
                 nested: NestedScan, depth: int) -> None:
    if info.file_size > MAX_MEMBER_SCAN or (
            info.compress_size and info.file_size > (1 << 20)
            and info.file_size / info.compress_size > MAX_RATIO):
        col.add(ModelVerdict.SUSPICIOUS, "archive-limit",
                f"member of {info.file_size} bytes (compressed {info.compress_size}) is over "
                "the scan limits", where)
        return
    try:
        with zf.open(info) as member:
            head = member.read(8)
            if info.filename.endswith(".pkl") or head[:1] == b"\x80":
                scanner = Scanner(col, where, depth, reopen=lambda: zf.open(info))
                scanner.scan_all(io.BufferedReader(_Rejoined(head, member)))
            elif head.startswith(NPY_MAGIC):
                scan_npy(io.BufferedReader(_Rejoined(head, member)), col, where, info.file_size)
            elif head.startswith(b"PK") or info.filename.endswith((".pt", ".pth", ".bin")):
                if info.file_size > MAX_NESTED_ARCHIVE:
                    col.add(ModelVerdict.SUSPICIOUS, "archive-limit",
                            "nested archive too large to scan", where)
                    return
                nested(head + member.read(), where, col, depth + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
        col.add(ModelVerdict.SUSPICIOUS, "bad-archive", f"unreadable member: {e}", where)


class _Rejoined(io.RawIOBase):
    """A member stream with its already-read head put back (zip members cannot seek cheaply)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
        else:
            data = self._rest.read(len(buffer))
            n = len(data)
            buffer[:n] = data
        self._pos += n
        return n

    def tell(self) -> int:
        return self._pos

    def peek(self, n: int = 1) -> bytes:
        if not self._head:
            self._head = self._rest.read(max(n, 1))
        return self._head[:n]


def scan_npy(fh: IO[bytes], col: Collector, where: str, size: int | None) -> None:
    """Validate a .npy header; object arrays are followed by a pickle, which is scanned."""
    magic = fh.read(8)
    if not magic.startswith(NPY_MAGIC) or len(magic) < 8:
        col.add(ModelVerdict.SUSPICIOUS, "bad-npy", "not a .npy file", where)
        return
    width = 2 if magic[6] == 1 else 4
    raw_len = fh.read(width)
    if len(raw_len) != width:
        col.add(ModelVerdict.SUSPICIOUS, "bad-npy", "truncated .npy header", where)
        return
    hlen = struct.unpack("<H" if width == 2 else "<I", raw_len)[0]
    if hlen > 1 << 20:
        col.add(ModelVerdict.SUSPICIOUS, "bad-npy", f"header of {hlen} bytes", where)
        return
    try:
        header = ast.literal_eval(fh.read(hlen).decode("latin-1"))
        descr, shape = header["descr"], tuple(header["shape"])
        import numpy as np

        dtype = np.dtype(descr)
    except (ValueError, SyntaxError, KeyError, TypeError, MemoryError) as e:
        col.add(ModelVerdict.SUSPICIOUS, "bad-npy", f"unparsable .npy header: {e}"[:200], where)
        return
    if dtype.hasobject:
        Scanner(col, f"{where} (object array)".strip()).scan_all(fh)
        return
    expected = 8 + width + hlen + math.prod(shape) * dtype.itemsize
    if size is not None and size < expected:
        col.add(ModelVerdict.SUSPICIOUS, "bad-npy",
                f".npy data truncated: {size} bytes, header promises {expected}", where)


def scan_legacy_tar(fh: IO[bytes], col: Collector, where: str) -> None:
    """Torch's pre-1.6 tar format: sys_info and pickle members, storages and tensors records."""
    try:
        tf = tarfile.open(fileobj=fh, mode="r:")  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError) as e:
        col.add(ModelVerdict.SUSPICIOUS, "bad-archive", f"unreadable tar: {e}", where)
        return
    with tf:
        members = []
        for i, m in enumerate(tf):
            if i >= MAX_MEMBERS:
                col.add(ModelVerdict.SUSPICIOUS, "archive-limit", "too many tar members", where)
                break
            members.append(m)
        _check_names([m.name for m in members], col, where)
        for m in members:
            stream = tf.extractfile(m) if m.isfile() else None
            if stream is None:
                if m.issym() or m.islnk():
                    col.add(ModelVerdict.SUSPICIOUS, "archive-link",
                            f"link member {m.name!r}", where)
                continue
            with stream:
                _scan_tar_member(m.name, stream, col, _join(where, m.name))


def _scan_tar_member(name: str, stream: IO[bytes], col: Collector, where: str) -> None:
    scanner = Scanner(col, where)
    if name in ("sys_info", "pickle"):
        scanner.scan_all(stream)
    elif name == "storages":
        ok, count = scanner.scan_stream(stream)
        for _ in range(count if ok and isinstance(count, int) else 0):
            ok, record = scanner.scan_stream(stream)
            size = _storage_element_size(record)
            if not ok or size is None:
                return
            (numel,) = struct.unpack("<q", stream.read(8))
            stream.seek(stream.tell() + numel * size)
    elif name == "tensors":
        ok, count = scanner.scan_stream(stream)
        for _ in range(count if ok and isinstance(count, int) else 0):
            ok, _key = scanner.scan_stream(stream)
            ok2, _ids = scanner.scan_stream(stream)
            if not (ok and ok2):
                return
            (ndim,) = struct.unpack("<i", stream.read(4))
            stream.read(4 + 16 * ndim + 8)
    else:
        head = stream.read(1)
        if head == b"\x80":
            stream.seek(0)
            scanner.scan_all(stream)


_ELEMENT = {"Double": 8, "Float": 4, "Half": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1,
            "Byte": 1, "Bool": 1, "BFloat16": 2, "ComplexFloat": 8, "ComplexDouble": 16}


def _storage_element_size(record: Any) -> int | None:
    from cpmap.supplychain.modelfiles.symbols import Global

    if isinstance(record, tuple) and len(record) == 3 and isinstance(record[2], Global):
        return _ELEMENT.get(record[2].name.removesuffix("Storage"))
    return None
