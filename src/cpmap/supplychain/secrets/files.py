"""Which files to read and how: binary and oversized files are skipped, notebooks are read as
JSON (cell sources and outputs) with findings placed on the .ipynb file's own lines."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from cpmap.supplychain.secrets.engine import Hit, Lines, scan_text

SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".cpmap",
             ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", "site-packages"}
BINARY_EXTS = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".ico", ".webp", ".pdf", ".zip", ".gz",
               ".bz2", ".xz", ".tar", ".7z", ".whl", ".so", ".dylib", ".dll", ".exe", ".bin",
               ".pt", ".pth", ".ckpt", ".safetensors", ".onnx", ".h5", ".hdf5", ".npy", ".npz",
               ".pkl", ".pickle", ".joblib", ".parquet", ".arrow", ".feather", ".db", ".sqlite",
               ".woff", ".woff2", ".ttf", ".otf", ".mp3", ".mp4", ".wav", ".pyc", ".class",
               ".jar", ".keras", ".tflite", ".pb"}
CONFIG_EXTS = {".env", ".ini", ".cfg", ".conf", ".config", ".toml", ".yaml", ".yml", ".json",
               ".properties", ".tfvars", ".cnf", ".netrc", ".npmrc", ".pypirc", ".xml"}
CONFIG_NAMES = {".env", "netrc", ".netrc", ".npmrc", ".pypirc", ".pgpass", "credentials",
                "config", ".git-credentials", ".dockercfg", ".htpasswd", "docker-compose.yml"}
LOCKFILES = {"poetry.lock", "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Pipfile.lock",
             "uv.lock", "Cargo.lock", "go.sum", "pylock.toml", "composer.lock", "Gemfile.lock",
             "npm-shrinkwrap.json", "pdm.lock", "conda-lock.yml", "bun.lock"}
_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
DEFAULT_MAX_BYTES = 10 << 20


@dataclass(frozen=True)
class FileResult:
    path: str
    hits: tuple[Hit, ...]
    sha256: str
    size: int
    skipped: str = ""  # why the file was not scanned ("binary", "too large", "unreadable")


def is_config(name: str) -> bool:
    low = name.lower()
    return (low in CONFIG_NAMES or low.startswith(".env") or low.endswith(".env")
            or Path(low).suffix in CONFIG_EXTS)


def iter_files(root: Path, exclude: tuple[str, ...] = ()) -> list[Path]:
    if root.is_file():
        return [root]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS
                             and not any(fnmatch(d, g) for g in exclude))
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if any(fnmatch(rel, g) or fnmatch(name, g) for g in exclude) or p.is_symlink():
                continue
            out.append(p)
    return out


def scan_file(path: Path, display: str, max_bytes: int = DEFAULT_MAX_BYTES) -> FileResult:
    if path.suffix.lower() in BINARY_EXTS:
        return FileResult(display, (), "", 0, "binary")
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            return FileResult(display, (), "", 0, "unreadable")
        size = st.st_size
        if size > max_bytes:
            return FileResult(display, (), "", size, "too large")
        data = path.read_bytes()
    except OSError:
        return FileResult(display, (), "", 0, "unreadable")
    digest = hashlib.sha256(data).hexdigest()
    if b"\0" in data[:8192]:
        return FileResult(display, (), digest, size, "binary")
    text = data.decode("utf-8", errors="replace")
    name = path.name
    if path.suffix.lower() == ".ipynb":
        hits = scan_notebook(text)
    else:
        hits = scan_text(text, config=is_config(name), lockfile=name in LOCKFILES)
    return FileResult(display, tuple(hits), digest, size)


def scan_notebook(text: str) -> list[Hit]:
    """Decode every JSON string of the notebook (sources, outputs) and scan the decoded text,
    reporting the line of the .ipynb file the string sits on."""
    try:
        json.loads(text)
    except ValueError:
        return scan_text(text)  # not valid JSON: read it as plain text
    parts: list[str] = []
    starts: list[int] = []
    line_of: list[int] = []
    offset, line, last = 0, 1, 0
    for m in _JSON_STRING.finditer(text):
        line += text.count("\n", last, m.start())
        last = m.start()
        try:
            value = json.loads(m.group(0))
        except ValueError:
            continue
        for piece in value.split("\n"):
            starts.append(offset)
            line_of.append(line)
            parts.append(piece)
            offset += len(piece) + 1
    decoded = "\n".join(parts)
    return scan_text(decoded, lines=Lines(decoded, line_of=line_of, starts=starts))
