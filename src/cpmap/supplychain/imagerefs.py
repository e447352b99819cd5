"""Where container images are named: Dockerfiles, compose files and Kubernetes manifests.

Each use of an image becomes an :class:`ImageUse` with its file, line and context. Dockerfiles
are read with their global ``ARG`` defaults substituted, stage names told apart from images,
and ``COPY --from=image`` counted as a use. YAML is read with ``yaml.safe_load_all`` only
(multi-document files, aliases walked once so that an alias bomb cannot blow up the walk).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cpmap.errors import InputError

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_NODES = 200_000
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".cpmap",
             ".tox", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_CONTAINER_KEYS = ("containers", "initContainers", "ephemeralContainers")
_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}"
                  r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class ImageUse:
    """One image reference as written (variables resolved where they can be)."""

    ref: str
    path: str
    line: int | None
    context: str
    unresolved: bool = False


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


def is_dockerfile(path: Path) -> bool:
    name = path.name
    return (name in ("Dockerfile", "Containerfile") or name.startswith(("Dockerfile.",
            "Containerfile.")) or name.endswith(".dockerfile"))


def candidate_files(root: Path) -> Iterator[Path]:
    """Dockerfiles and YAML files under ``root`` (or ``root`` itself), in a stable order."""
    if root.is_file():
        yield root
        return
    if not root.is_dir():
        raise InputError(f"{root}: no such file or directory")
    stack = [root]
    while stack:
        current = stack.pop()
        try:
            children = sorted(current.iterdir(), reverse=True)
        except OSError:
            continue
        for child in children:
            if child.is_symlink():
                continue
            if child.is_dir():
                if child.name not in SKIP_DIRS:
                    stack.append(child)
            elif child.is_file() and (is_dockerfile(child) or child.suffix in (".yml", ".yaml")):
                yield child  # regular files only: reading a FIFO named Dockerfile would block


def _logical(text: str) -> Iterator[tuple[int, str]]:
    """Dockerfile instructions with continuations joined, numbered by their first line."""
    escape = "`" if re.match(r"#\s*escape\s*=\s*`", text) else "\\"
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buffer:
            start = number
            if not stripped or stripped.startswith("#"):
                continue
        elif stripped.startswith("#"):
            continue
        if stripped.endswith(escape):
            buffer += stripped[:-1] + " "
            continue
        yield start, (buffer + stripped).strip()
        buffer = ""
    if buffer.strip():
        yield start, buffer.strip()


def _substitute(value: str, args: dict[str, str]) -> tuple[str, bool]:
    unresolved = False

    def repl(m: re.Match[str]) -> str:
        nonlocal unresolved
        name = m.group("braced") or m.group("bare")
        if args.get(name):
            return args[name]
        if m.group("default") is not None:
            return m.group("default")
        unresolved = True
        return m.group(0)

    return _VAR.sub(repl, value), unresolved


def dockerfile_uses(text: str, path: str) -> list[ImageUse]:
    args: dict[str, str] = {}
    stages: set[str] = set()
    uses: list[ImageUse] = []
    seen_from = False
    for line, instr in _logical(text):
        keyword, _, rest = instr.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not seen_from:
            for item in rest.split():
                name, _, default = item.partition("=")
                args[name] = default.strip("\"'")
        elif keyword == "FROM":
            seen_from = True
            words = [w for w in rest.split() if not w.startswith("--")]
            if not words:
                continue
            ref, unresolved = _substitute(words[0], args)
            if len(words) >= 3 and words[1].lower() == "as":
                stages.add(words[2].lower())
            if ref.lower() not in stages and ref != "scratch":
                uses.append(ImageUse(ref, path, line, "FROM", unresolved))
        elif keyword == "COPY":
            for word in rest.split():
                if word.startswith("--from="):
                    ref, unresolved = _substitute(word[len("--from="):], args)
                    if ref.lower() not in stages and not ref.isdigit():
                        uses.append(ImageUse(ref, path, line, "COPY --from", unresolved))
    return uses


def _walk(node: Any, seen: set[int], budget: list[int]) -> Iterator[Any]:
    """Every mapping and list in a YAML document, each object once (aliases share objects)."""
    if not isinstance(node, dict | list) or id(node) in seen:
        return
    seen.add(id(node))
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError("document too large")
    yield node
    for child in node.values() if isinstance(node, dict) else node:
        yield from _walk(child, seen, budget)


def _doc_images(doc: Any) -> Iterator[tuple[str, str]]:
    if isinstance(doc, dict) and isinstance(doc.get("services"), dict):
        for name, svc in doc["services"].items():
            if isinstance(svc, dict) and isinstance(svc.get("image"), str):
                yield svc["image"], f"compose service {name}"
    if isinstance(doc, dict) and "kind" in doc and "apiVersion" in doc:
        kind = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name', '?')}"
        for node in _walk(doc, set(), [MAX_NODES]):
            if not isinstance(node, dict):
                continue
            for key in _CONTAINER_KEYS:
                items = node.get(key)
                for c in items if isinstance(items, list) else []:
                    if isinstance(c, dict) and isinstance(c.get("image"), str):
                        yield c["image"], f"{kind} {key[:-1]} {c.get('name', '?')}"


def yaml_uses(text: str, path: str) -> list[ImageUse]:
    """Images of compose services and Kubernetes containers; lines found by text search."""
    try:
        docs = list(yaml.safe_load_all(text))
        found = [item for doc in docs for item in _doc_images(doc)]
    except (yaml.YAMLError, ValueError, RecursionError) as e:
        raise InputError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from e
    lines = text.splitlines()
    uses: list[ImageUse] = []
    taken: set[int | None] = set()
    for ref, context in found:
        line = _find_line(lines, ref, taken)
        taken.add(line)
        unresolved = "${" in ref or "{{" in ref
        uses.append(ImageUse(ref, path, line, context, unresolved))
    return sorted(uses, key=lambda u: u.line or 0)


def _find_line(lines: list[str], ref: str, taken: set[int | None]) -> int | None:
    """The first line not yet claimed that sets ``image:`` to ``ref``."""
    pattern = re.compile(r"image:\s*[\"']?" + re.escape(ref) + r"[\"']?\s*(?:#.*)?$")
    for i, line in enumerate(lines):
        if i + 1 not in taken and pattern.search(line):
            return i + 1
    return None


def read_uses(path: Path, explicit: bool) -> tuple[list[ImageUse], SkippedFile | None]:
    """The image uses of one file; an unusable file given explicitly is bad input."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
        if is_dockerfile(path):
            return dockerfile_uses(text, str(path)), None
        if path.suffix in (".yml", ".yaml"):
            return yaml_uses(text, str(path)), None
        if explicit:
            return dockerfile_uses(text, str(path)), None
        return [], None
    except (OSError, UnicodeDecodeError) as e:
        if explicit:
            raise InputError(f"{path}: cannot read: {e}") from e
        return [], SkippedFile(str(path), f"unreadable: {e}")
    except InputError as e:
        if explicit:
            raise
        return [], SkippedFile(str(path), e.message.split(": ", 1)[-1])
