"""Reviewed findings: a JSON file of fingerprints (sha256 of rule, path and secret).

The baseline never holds a secret or a masked value, so it can be committed. A finding whose
fingerprint is listed is reported as ``baselined`` and does not fail the scan.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cpmap.errors import InputError

VERSION = 1


def load(path: Path) -> set[str]:
    """Fingerprints in a baseline file; a missing file is an empty baseline."""
    if not path.exists():
        return set()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["findings"]
        return {str(e["fingerprint"]) for e in entries}
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise InputError(f"{path}: not a cpmap secrets baseline ({e.__class__.__name__})",
                         hint="create one with --update-baseline") from e


def check_overwritable(path: Path) -> None:
    """Refuse to replace a file that is not a cpmap baseline (``--baseline model.npz
    --update-baseline`` once turned a model into JSON): only a baseline is rewritten."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory (--baseline names a JSON file)")
    if not path.exists():
        return
    load(path)  # not JSON with findings: refused, named
    try:
        tool = json.loads(path.read_text(encoding="utf-8")).get("tool")
    except (OSError, ValueError, AttributeError, RecursionError) as e:
        raise InputError(f"{path}: not a cpmap secrets baseline") from e
    if tool != "cpmap scan secrets":
        raise InputError(f"{path}: exists and is not a cpmap secrets baseline; refusing to "
                         "overwrite it", hint="name a new file or a baseline cpmap wrote")


def dump(path: Path, findings: Iterable[Any]) -> int:
    """Write every finding's fingerprint, rule, path and line; returns how many."""
    from cpmap.core.workspace import atomic_write

    entries = sorted(({"fingerprint": f.fingerprint, "rule": f.rule, "path": f.path,
                       "line": f.line} for f in findings),
                     key=lambda e: (e["path"], e["line"], e["rule"]))
    doc = {"version": VERSION, "tool": "cpmap scan secrets",
           "generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "findings": entries}
    try:
        atomic_write(path, (json.dumps(doc, indent=2) + "\n").encode())
    except OSError as e:
        raise InputError(f"{path}: cannot write the baseline: {e.strerror}") from e
    return len(entries)
