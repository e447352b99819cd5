"""``[secrets]`` in cpmap.toml: the reviewed-findings baseline and extra exclude globs.

Checked here, not in the CLI, so that every caller reads the same validated settings: a wrong
type is bad input naming cpmap.toml, never a silently ignored or misread setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


@dataclass(frozen=True)
class SecretsSettings:
    baseline: Path | None  # relative names are the workspace's
    exclude: tuple[str, ...]


def workspace_settings(ws: Workspace) -> SecretsSettings:
    """``[secrets] baseline`` and ``exclude`` (also ``CPMAP_SECRETS_*``), validated."""
    configured = ws.setting("secrets", "baseline")
    extra = ws.setting("secrets", "exclude") or []
    toml = ws.dir / "cpmap.toml"
    if configured is not None and not isinstance(configured, str):
        raise InputError(f"{toml}: [secrets] baseline must be a file name (a string)")
    if not isinstance(extra, str | list):
        raise InputError(f"{toml}: [secrets] exclude must be a list of globs")
    globs = extra.split(",") if isinstance(extra, str) else [str(g) for g in extra]
    return SecretsSettings(ws.root / configured if configured else None, tuple(globs))
