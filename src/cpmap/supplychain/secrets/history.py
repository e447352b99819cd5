"""Secrets in git history: the lines each commit added, from ``git log -p`` (fixed arguments,
no shell). A secret removed from the working tree is still in every clone, so it still needs
rotating; each is reported once, at the oldest commit that added it."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cpmap.errors import InputError
from cpmap.supplychain.safegit import git_argv, git_env, git_path
from cpmap.supplychain.secrets.engine import Hit, Lines, scan_text
from cpmap.supplychain.secrets.files import BINARY_EXTS, LOCKFILES, is_config

_HUNK = re.compile(r"@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")
COMMIT_MARK = "\x1ecommit "


@dataclass(frozen=True)
class HistoryHit:
    commit: str
    path: str
    hit: Hit


@dataclass
class _Patch:
    commit: str
    path: str
    lines: list[str]
    numbers: list[int]


def _patches(repo: Path) -> Iterator[_Patch]:
    if git_path() is None:
        raise InputError("--history needs git on PATH")
    # hardened (safegit): nothing the scanned repository configures (textconv, external
    # diff, pager, signature programs) runs
    args = git_argv(repo, "log", "-p", "--all", "--reverse", "--no-color", "--no-ext-diff",
                    "--no-textconv", "--no-renames", "--no-show-signature", "--unified=0",
                    "--diff-filter=AM", f"--format={COMMIT_MARK}%H")
    with tempfile.TemporaryFile() as err_file:
        # fixed argv, no shell; stderr to a file so that a chatty git cannot block the pipe
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err_file,  # noqa: S603
                                stdin=subprocess.DEVNULL, env=git_env())
        yield from _parse(proc.stdout or iter(()))
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired as e:
            proc.kill()
            raise InputError(f"{repo}: git log did not finish") from e
        if proc.returncode:
            err_file.seek(0)
            err = err_file.read().decode(errors="replace").strip()[:200]
            raise InputError(f"{repo}: git log failed: {err}")


def _parse(stream: Iterable[bytes]) -> Iterator[_Patch]:
    commit, patch, lineno = "", None, 0
    for raw in stream:
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        if line.startswith(COMMIT_MARK):
            if patch:
                yield patch
            commit, patch = line[len(COMMIT_MARK):].strip(), None
        elif line.startswith("+++ "):
            if patch:
                yield patch
            target = line[4:]
            patch = (_Patch(commit, target[2:], [], []) if target.startswith("b/") else None)
        elif line.startswith("@@"):
            m = _HUNK.match(line)
            lineno = int(m.group(1)) if m else 0
        elif patch is not None and line.startswith("+"):
            patch.lines.append(line[1:])
            patch.numbers.append(lineno)
            lineno += 1
    if patch:
        yield patch


def scan_history(repo: Path) -> list[HistoryHit]:
    if not (repo / ".git").exists():
        raise InputError(f"{repo}: not a git repository (needed for --history)",
                         hint="run from the repository root")
    seen: set[tuple[str, str, str]] = set()
    out = []
    for patch in _patches(repo):
        name = Path(patch.path).name
        if Path(name).suffix.lower() in BINARY_EXTS or not patch.lines:
            continue
        text = "\n".join(patch.lines)
        starts, pos = [], 0
        for piece in patch.lines:
            starts.append(pos)
            pos += len(piece) + 1
        lines = Lines(text, line_of=patch.numbers, starts=starts)
        for hit in scan_text(text, config=is_config(name), lockfile=name in LOCKFILES,
                             lines=lines):
            key = (hit.rule.id, patch.path, hit.secret)
            if key not in seen:
                seen.add(key)
                out.append(HistoryHit(patch.commit, patch.path, hit))
    return out
