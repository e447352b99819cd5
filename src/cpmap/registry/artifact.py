"""Model artifacts: copied into the workspace objects by content, and restored from there.

A file artifact's digest is the SHA-256 of its bytes; a directory's is CP1's tree digest (the
SHA-256 of its ``sha256sum``-style listing), so that ``cpmap data fingerprint`` and anyone with
coreutils compute the same name. Each file is hashed while it is copied, so the digest is that of
the bytes actually stored, never of a file that changed between hashing and copying.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError, VerificationFailed
from cpmap.provenance.fingerprint import CHUNK, FileDigest, listing, walk

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

# Format by suffix: which loader may open it. Pickle-based formats are recorded as such so that
# the card and the gate (CP3 model-file scan) can say so; the registry itself never loads them.
_FORMATS = {
    ".safetensors": "safetensors", ".skops": "skops", ".onnx": "onnx", ".json": "json",
    ".pt": "torch-pickle", ".pth": "torch-pickle", ".bin": "torch-pickle", ".pkl": "pickle",
    ".pickle": "pickle", ".joblib": "joblib", ".npz": "npz", ".npy": "npy", ".h5": "keras",
    ".keras": "keras",
}
MAX_FILES = 10_000


@dataclass(frozen=True)
class Artifact:
    """What was stored: the digest that names the model, and every file in it."""

    kind: str  # "file" | "tree"
    digest: str
    files: tuple[FileDigest, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def formats(self) -> list[str]:
        return sorted({_FORMATS.get(Path(f.path).suffix.lower(), "other") for f in self.files})

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "digest": self.digest, "bytes": self.size,
                "formats": self.formats,
                "files": [{"path": f.path, "sha256": f.sha256, "size": f.size}
                          for f in self.files]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Artifact:
        files = tuple(FileDigest(str(f["path"]), str(f["sha256"]), int(f["size"]))
                      for f in data["files"])
        return cls(str(data["kind"]), str(data["digest"]), files)


def _copy_in(ws: Workspace, src: Path) -> tuple[str, int]:
    """Copy ``src`` into the objects store while hashing it; return (digest, size)."""
    target_dir = ws.objects_dir / "sha256"
    target_dir.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".incoming.")
    try:
        with src.open("rb") as fin, os.fdopen(fd, "wb") as fout:
            while chunk := fin.read(CHUNK):
                h.update(chunk)
                fout.write(chunk)
                size += len(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        digest = h.hexdigest()
        final = target_dir / digest
        if final.exists():
            os.unlink(tmp)
        else:
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"{src}: cannot read model artifact: {e.strerror}") from e
    return digest, size


def check_artifact(path: Path) -> None:
    """Refuse what :func:`store_artifact` would refuse, before anything is scanned or recorded."""
    if path.is_symlink():
        raise InputError(f"{path}: model artifact is a symbolic link; give the real path")
    if path.is_file():
        if path.stat().st_size == 0:
            raise InputError(f"{path}: model file is empty")
        return
    if not path.is_dir():
        raise InputError(f"{path}: no such model file or directory")
    if next(iter(walk(path)), None) is None:
        raise InputError(f"{path}: model directory holds no files")


def store_artifact(ws: Workspace, path: Path) -> Artifact:
    """Copy a model file or directory into the workspace objects; return its digests."""
    if path.is_symlink():
        raise InputError(f"{path}: model artifact is a symbolic link; give the real path")
    if path.is_file():
        digest, size = _copy_in(ws, path)
        return Artifact("file", digest, (FileDigest(path.name, digest, size),))
    if not path.is_dir():
        raise InputError(f"{path}: no such model file or directory")
    entries = sorted(walk(path))
    if not entries:
        raise InputError(f"{path}: model directory holds no files")
    if len(entries) > MAX_FILES:
        raise InputError(f"{path}: model directory holds more than {MAX_FILES} files")
    files = tuple(FileDigest(rel, *_copy_in(ws, p)) for rel, p, *_size in entries)
    body = listing(files)
    digest = hashlib.sha256(body).hexdigest()
    ws.put_object(body, digest)  # the listing itself, named by the tree digest
    return Artifact("tree", digest, files)


def artifact_digest(path: Path) -> str:
    """The digest :func:`store_artifact` would give ``path``, without storing anything."""
    from cpmap.provenance.fingerprint import fingerprint

    if path.is_symlink() or not (path.is_file() or path.is_dir()):
        raise InputError(f"{path}: no such model file or directory")
    return fingerprint(path, workers=1).digest


def check_objects(ws: Workspace, artifact: Artifact) -> list[str]:
    """Problems with the stored copy: missing or altered objects (empty when intact)."""
    problems = []
    for f in artifact.files:
        obj = ws.objects_dir / "sha256" / f.sha256
        if not obj.is_file():
            problems.append(f"{f.path}: stored object sha256:{f.sha256[:12]} is missing")
            continue
        h = hashlib.sha256()
        with obj.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                h.update(chunk)
        if h.hexdigest() != f.sha256:
            problems.append(f"{f.path}: stored object sha256:{f.sha256[:12]} was altered")
    if artifact.kind == "tree":
        listed = hashlib.sha256(listing(artifact.files)).hexdigest()
        if listed != artifact.digest:
            problems.append("file list does not hash to the version's digest")
    return problems


def materialize(ws: Workspace, artifact: Artifact, dest: Path) -> Path:
    """Restore the artifact under ``dest`` (verified first) and return the model path."""
    problems = check_objects(ws, artifact)
    if problems:
        raise VerificationFailed(f"model sha256:{artifact.digest[:12]}: " + "; ".join(problems))
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    for f in artifact.files:
        target = (root / f.path).resolve()
        if root not in target.parents:
            raise VerificationFailed(f"{f.path}: artifact path escapes the target directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ws.objects_dir / "sha256" / f.sha256, target)
    if artifact.kind == "file":
        return root / artifact.files[0].path
    return root
