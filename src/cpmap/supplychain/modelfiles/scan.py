"""Format detection and dispatch: one :class:`FileReport` per model file, by content first.

Magic bytes decide the format (zip, tar, gzip/bz2/xz/zlib, .npy, HDF5, safetensors, pickle); the
extension only breaks ties (.onnx has no magic). Protocol 0 and 1 pickles have no magic either:
their first opcodes are replayed (:func:`looks_like_pickle`). A directory scan lists the files it
could not recognise instead of dropping them. Nothing is ever imported from, or executed by, the
files scanned.
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
from cpmap.supplychain.modelfiles.pickles import SNIFF_BYTES, Scanner, looks_like_pickle
from cpmap.supplychain.modelfiles.report import (
    Collector,
    FileReport,
    ModelVerdict,
    PathScan,
    Unclassified,
)
from cpmap.supplychain.modelfiles.safetensors_check import looks_like_safetensors, scan_safetensors

# Names pickles go by: pickle, dill, cloudpickle, torch, joblib, PaddlePaddle, scikit-learn docs.
PICKLE_EXTS = {".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".jbl", ".dat",
               ".sav", ".model", ".p", ".pk", ".pck", ".pcl", ".mar", ".pyt", ".dill",
               ".torch", ".ptl", ".pdparams", ".pdopt", ".pkl3"}
MODEL_EXTS = PICKLE_EXTS | {".npy", ".npz", ".safetensors", ".onnx", ".keras", ".h5", ".hdf5",
                            ".gz", ".bz2", ".xz", ".lzma", ".tar", ".zip", ".skops"}
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".cpmap",
             ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox"}


def scan_path(path: str | os.PathLike[str]) -> list[FileReport]:
    """Scan a file, or every model file under a directory. Never loads or unpickles anything."""
    return list(scan_tree(path).reports)


def scan_tree(path: str | os.PathLike[str]) -> PathScan:
    """:func:`scan_path`, with the files of a directory that are not model files listed."""
    root = Path(path)
    if root.is_dir():
        found, other = iter_model_files(root)
        return PathScan(tuple(scan_file(p) for p in found), tuple(other))
    if not root.is_file():
        raise InputError(f"{root}: " + ("not a regular file" if root.exists()
                                        else "no such file or directory"))
    return PathScan((scan_file(root),))


def iter_model_files(root: Path) -> tuple[list[Path], list[Unclassified]]:
    """Files with a model extension, and any other file whose first bytes are a model format
    (torch loads a pickle whatever its name: ``weights.txt`` is no excuse); then the rest."""
    found, other = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            why = None if p.suffix.lower() in MODEL_EXTS else _not_a_model(p)
            if why is None:
                found.append(p)
            else:
                other.append(Unclassified(str(p), p.stat().st_size, why))
    return found, other


def _not_a_model(path: Path) -> str | None:
    """None when the content is a model format, else why the file is left out."""
    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
            whole = not fh.read(1)
    except OSError as e:
        return f"unreadable: {e.strerror}"
    if _model_magic(head) or looks_like_pickle(head, whole):
        return None
    if not head:
        return "empty file"
    text = b"\x00" not in head[:4096] and _decodes(head[:4096])
    return ("text, no model format" if text
            else "binary, no model format cpmap recognises (not scanned)")


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start > len(data) - 4  # a character cut at the end of the sample
    return True


def _model_magic(head: bytes) -> bool:
    return (head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
            or head.startswith((b"PK\x03\x04", containers.NPY_MAGIC, HDF5_MAGIC))
            or head[257:262] == b"ustar"
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
    with io.BufferedReader(counted, buffer_size=SNIFF_BYTES) as fh:
        head = fh.peek(SNIFF_BYTES)[:SNIFF_BYTES]
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
    if head[:1] == b"\x80" or ext in PICKLE_EXTS or looks_like_pickle(head, len(head) >= size):
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
    start = fh.tell()
    inner = decompressed(kind, fh)
    head = inner.peek(8)[:8] if hasattr(inner, "peek") else b""
    label = f"{where} ({kind})".strip()
    if head.startswith(containers.NPY_MAGIC):
        containers.scan_npy(inner, col, label, None)
        return f"{kind}+npy"
    def reopen() -> IO[bytes]:
        fh.seek(start)
        return decompressed(kind, fh)

    Scanner(col, label, depth, reopen=reopen).scan_all(inner)
    return f"{kind}+pickle"


def _nested(data: bytes, where: str, col: Collector, depth: int) -> None:
    """An archive inside an archive (a .pt in a zip): dispatch on its content, bounded depth."""
    if depth > 3:
        col.add(ModelVerdict.SUSPICIOUS, "archive-limit", "archives nested too deep", where)
        return
    _dispatch(Path(where), io.BytesIO(data), data[:SNIFF_BYTES], len(data), col, depth, where)


def summary(reports: list[FileReport]) -> dict[str, int]:
    counts = {v.value: 0 for v in ModelVerdict}
    for r in reports:
        counts[r.verdict.value] += 1
    return counts
