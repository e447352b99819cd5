"""Format detection and dispatch: one :class:`FileReport` per model file, by content first.

Magic bytes decide the format (zip, tar, gzip/bz2/xz/zlib, .npy, HDF5, safetensors, pickle); the
extension only breaks ties (.onnx has no magic, protocol-0 pickles have none either). Nothing is
ever imported from, or executed by, the files scanned.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO

from cpmap.errors import InputError
from cpmap.supplychain.modelfiles import containers, keras_check, onnx_check, skops_check
from cpmap.supplychain.modelfiles.io_utils import (
    CountingFile,
    LimitExceeded,
    compression_of,
    decompressed,
)
from cpmap.supplychain.modelfiles.pickles import Scanner
from cpmap.supplychain.modelfiles.report import Collector, FileReport, ModelVerdict
from cpmap.supplychain.modelfiles.safetensors_check import looks_like_safetensors, scan_safetensors

PICKLE_EXTS = {".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".jbl", ".dat",
               ".sav", ".model", ".p", ".pk", ".mar", ".pyt"}
MODEL_EXTS = PICKLE_EXTS | {".npy", ".npz", ".safetensors", ".onnx", ".keras", ".h5", ".hdf5",
                            ".gz", ".bz2", ".xz", ".lzma", ".tar", ".zip", ".skops"}
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".cpmap",
             ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox"}


def scan_path(path: str | os.PathLike[str]) -> list[FileReport]:
    """Scan a file, or every model file under a directory. Never loads or unpickles anything."""
    root = Path(path)
    if root.is_dir():
        return [scan_file(p) for p in iter_model_files(root)]
    if not root.is_file():
        raise InputError(f"{root}: " + ("not a regular file" if root.exists()
                                        else "no such file or directory"))
    return [scan_file(root)]


def iter_model_files(root: Path) -> list[Path]:
    """Files with a model extension, and any other file whose first bytes are a model format's
    magic: torch loads a pickle whatever its name (``weights.txt`` is no excuse)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            if p.suffix.lower() in MODEL_EXTS or _model_magic(p):
                found.append(p)
    return found


def _model_magic(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    return (head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
            or head.startswith((b"PK\x03\x04", containers.NPY_MAGIC, HDF5_MAGIC))
            or compression_of(head, allow_zlib=False) is not None
            or looks_like_safetensors(head))


def scan_file(path: Path) -> FileReport:
    col = Collector()
    size = path.stat().st_size
    try:
        raw = path.open("rb")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from e
    counted = CountingFile(raw)
    with io.BufferedReader(counted, buffer_size=1 << 16) as fh:
        head = fh.peek(512)[:512]
        try:
            fmt = _dispatch(path, fh, head, size, col, 0)
        except LimitExceeded as e:
            fmt = "compressed"
            col.add(ModelVerdict.SUSPICIOUS, "archive-limit", str(e))
        except Exception as e:  # noqa: BLE001 - hostile bytes: any parser failure is a verdict
            fmt = "unknown"
            col.add(ModelVerdict.SUSPICIOUS, "unreadable",
                    f"cannot be parsed: {e.__class__.__name__}: {e}"[:300])
    return col.report(str(path), fmt, size, counted.bytes_read)


def _dispatch(path: Path, fh: IO[bytes], head: bytes, size: int, col: Collector,
              depth: int, where: str = "") -> str:
    ext = path.suffix.lower()
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        if ext == ".keras" or ext == ".zip" and _has_member(fh, "config.json"):
            return _scan_keras(fh, col, where)
        if ext == ".skops" or _has_member(fh, "schema.json"):
            _scan_skops(fh, col, where)
            containers.scan_zip(fh, col, where, _nested, depth)
            return "skops"
        fmt = containers.scan_zip(fh, col, where, _nested, depth)
        return "npz" if ext == ".npz" and fmt == "zip" else fmt
    if head[257:262] == b"ustar":
        containers.scan_legacy_tar(fh, col, where)
        return "torch-tar"
    kind = compression_of(head, allow_zlib=ext in PICKLE_EXTS or ext == ".z")
    if kind is not None:
        return _scan_compressed(kind, fh, col, where, depth)
    if head.startswith(containers.NPY_MAGIC):
        containers.scan_npy(fh, col, where, size)
        return "npy"
    if head.startswith(HDF5_MAGIC):
        keras_check.scan_h5(fh, col, where)
        return "hdf5"
    if looks_like_safetensors(head):
        scan_safetensors(fh, size, col, where)
        return "safetensors"
    if ext == ".onnx" and depth == 0:
        onnx_check.scan_onnx(path, col, where)
        return "onnx"
    if head[:1] == b"\x80" or ext in PICKLE_EXTS:
        scanner = Scanner(col, where)
        scanner.scan_all(fh)
        if scanner.legacy_torch:
            return "torch-legacy"
        return "joblib" if any(g.startswith("joblib.") for g in col.globals) else "pickle"
    col.add(ModelVerdict.SUSPICIOUS, "unknown-format",
            "not a model format cpmap recognises (nothing can vouch for it)", where)
    return "unknown"


def _has_member(fh: IO[bytes], name: str) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(fh) as zf:
            return name in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    finally:
        fh.seek(0)


def _scan_keras(fh: IO[bytes], col: Collector, where: str) -> str:
    import zipfile

    try:
        with zipfile.ZipFile(fh) as zf:
            info = zf.getinfo("config.json") if "config.json" in zf.namelist() else None
            if info is not None and info.file_size <= keras_check.MAX_CONFIG:
                keras_check.scan_keras_config(zf.read(info), col, where)
            elif info is None:
                col.add(ModelVerdict.SUSPICIOUS, "bad-keras", ".keras file without config.json",
                        where)
    except (zipfile.BadZipFile, OSError) as e:
        col.add(ModelVerdict.SUSPICIOUS, "bad-archive", f"unreadable zip: {e}", where)
        return "keras"
    fh.seek(0)
    containers.scan_zip(fh, col, where, _nested, 0)  # pickles hidden among the members
    return "keras"


def _scan_skops(fh: IO[bytes], col: Collector, where: str) -> None:
    import zipfile

    try:
        with zipfile.ZipFile(fh) as zf:
            info = zf.getinfo("schema.json")
            if info.file_size > skops_check.MAX_SCHEMA:
                col.add(ModelVerdict.SUSPICIOUS, "archive-limit", "schema.json too large", where)
            else:
                skops_check.check_schema(zf.read(info), col, where)
    except (zipfile.BadZipFile, OSError, KeyError) as e:
        col.add(ModelVerdict.SUSPICIOUS, "bad-skops", f"unreadable skops file: {e}", where)
    fh.seek(0)


def _scan_compressed(kind: str, fh: IO[bytes], col: Collector, where: str, depth: int) -> str:
    inner = decompressed(kind, fh)
    head = inner.peek(8)[:8] if hasattr(inner, "peek") else b""
    label = f"{where} ({kind})".strip()
    if head.startswith(containers.NPY_MAGIC):
        containers.scan_npy(inner, col, label, None)
        return f"{kind}+npy"
    Scanner(col, label, depth).scan_all(inner)
    return f"{kind}+pickle"


def _nested(data: bytes, where: str, col: Collector, depth: int) -> None:
    """An archive inside an archive (a .pt in a zip): dispatch on its content, bounded depth."""
    if depth > 3:
        col.add(ModelVerdict.SUSPICIOUS, "archive-limit", "archives nested too deep", where)
        return
    _dispatch(Path(where), io.BytesIO(data), data[:512], len(data), col, depth, where)


def summary(reports: list[FileReport]) -> dict[str, int]:
    counts = {v.value: 0 for v in ModelVerdict}
    for r in reports:
        counts[r.verdict.value] += 1
    return counts
