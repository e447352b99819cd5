"""Readers for scanning: a byte-counting file (to prove tensor payloads are never read) and
bounded streaming decompressors (gzip, bz2, lzma, zlib) that stop at a size limit."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from typing import IO, Any

MAX_DECOMPRESSED = 8 << 30  # 8 GiB: past this a "compressed pickle" is a bomb


class LimitExceeded(Exception):
    """A decompressed stream grew past :data:`MAX_DECOMPRESSED`."""


class CountingFile(io.RawIOBase):
    """A seekable read-only file that counts the bytes actually read from disk."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._fh.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        self._fh.close()
        super().close()


class _Zlib(io.RawIOBase):
    """A zlib stream (joblib's default compressor) as a file."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._z = zlib.decompressobj()
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while len(self._buf) < len(buffer) and not self._z.eof:
            chunk = self._fh.read(1 << 16)
            if not chunk:
                break
            self._buf += self._z.decompress(chunk, 1 << 22)
            while self._z.unconsumed_tail and len(self._buf) < (1 << 22):
                self._buf += self._z.decompress(self._z.unconsumed_tail, 1 << 22)
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class Bounded(io.RawIOBase):
    """Reads through ``inner`` and raises :class:`LimitExceeded` past ``limit`` bytes."""

    def __init__(self, inner: IO[bytes], limit: int = MAX_DECOMPRESSED) -> None:
        self._inner = inner
        self._limit = limit
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        n = len(data)
        self._pos += n
        if self._pos > self._limit:
            raise LimitExceeded(f"decompressed size exceeds {self._limit >> 20} MiB")
        buffer[:n] = data
        return n

    def tell(self) -> int:
        return self._pos


COMPRESSIONS = {"gzip": b"\x1f\x8b", "bz2": b"BZh", "xz": b"\xfd7zXZ\x00"}


def compression_of(head: bytes, allow_zlib: bool) -> str | None:
    for name, magic in COMPRESSIONS.items():
        if head.startswith(magic):
            return name
    if head[:3] == b"\x5d\x00\x00":
        return "lzma"
    if allow_zlib and len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib"
    return None


def decompressed(kind: str, fh: IO[bytes]) -> IO[bytes]:
    """A buffered, bounded reader over the decompressed content of ``fh``."""
    inner: Any
    if kind == "gzip":
        inner = gzip.GzipFile(fileobj=fh, mode="rb")
    elif kind == "bz2":
        inner = bz2.BZ2File(fh, mode="rb")
    elif kind in ("xz", "lzma"):
        inner = lzma.LZMAFile(fh, mode="rb")
    else:
        inner = io.BufferedReader(_Zlib(fh))
    return io.BufferedReader(Bounded(inner))
