"""The demo project the stages build: files written once, the workspace policy, reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


def write_once(path: Path, text: str) -> Path:
    """Write a project file unless it exists (a re-run keeps what the user may have edited)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(text)
    return path


def add_policy(ws: Workspace, toml_text: str, marker: str) -> None:
    """Append ``toml_text`` to the workspace's cpmap.toml unless ``marker`` (a table header it
    holds) is there already, and reload the configuration the workspace object carries."""
    from cpmap.core import config as cfg

    toml = ws.dir / "cpmap.toml"
    text = toml.read_text()
    if marker not in text:
        toml.write_text(text + toml_text)
    ws.config.clear()
    ws.config.update(cfg.load(toml))


def production_reports(ws: Workspace, model: str, out_dir: Path) -> list[Path]:
    """The per-version map of ``model``'s production version, if it has one."""
    from cpmap.formats.report import write_version_report
    from cpmap.registry.versions import aliases

    if "production" not in aliases(ws, model):
        return []
    return [write_version_report(ws, f"{model}@production", out_dir / f"{model}-production")]
