"""Workspace configuration: ``cpmap.toml`` with ``CPMAP_*`` environment overrides.

Every ``[section] key`` can be overridden by ``CPMAP_SECTION_KEY`` so that CI and containers can
configure cpmap without editing files. Values from the environment are parsed as TOML scalars
when they parse (numbers, booleans, arrays), else taken as strings.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cpmap.errors import WorkspaceError

BASE_TOML = """\
# cpmap workspace configuration.
# Every setting can also be given as an environment variable CPMAP_<SECTION>_<KEY>,
# e.g. CPMAP_STORE_URL or CPMAP_SOURCES_TRUSTED='["file://*"]'.

[workspace]
name = "{name}"

[store]
# SQLAlchemy URL of the store. Empty: the embedded SQLite file .cpmap/store.db.
# CPMAP_DATABASE_URL also sets it, e.g. postgresql+psycopg://127.0.0.1:5432/test
url = ""
# PostgreSQL only: the schema that holds this workspace's tables, its own namespace in a
# database other workspaces share (`cpmap init --schema NAME`). Empty: the default schema.
schema = ""

[sources]
# Dataset sources that `cpmap data register` accepts without --allow-untrusted
# (fnmatch patterns over the source URI).
trusted = ["builtin:*", "file://*", "s3://{name}-*/*", "https://huggingface.co/datasets/*"]

[privacy]
# CP2 policy: minimum k-anonymity, l-diversity, maximum t-closeness distance and share of unique
# records; "direct" fails scans that find direct identifiers, "any" fails on any PII.
k = 5
l = 2
t = 0.5
max_unique = 0.05
fail_on = "direct"
# Differential-privacy budget per dataset (epsilon, delta); [privacy.budgets] "name" = eps.
default_budget = 10.0
default_delta_budget = 1e-5

[supplychain]
# Offline OSV database of `cpmap scan deps` (relative to the workspace root): a folder of OSV
# JSON or an ecosystem's all.zip. Empty: none yet; `cpmap osv fetch` downloads OSV's public
# export and sets this (or pass --osv-db PATH, or --online).
osv_db = ""

[gate]
# The release gate (`cpmap gate NAME@VERSION`, `cpmap registry promote`): one requirement per
# control point, evaluated on signed evidence about this exact model digest and its training
# data. A required control without evidence fails with "no evidence". A control that is not
# required is still evaluated when evidence exists. Override any key with an environment
# variable, e.g. CPMAP_GATE_CP4_MIN_ROBUST_ACCURACY=0.6.

"""


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return raw


def load(path: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read ``cpmap.toml`` and apply environment overrides."""
    try:
        with path.open("rb") as fh:
            data: dict[str, Any] = tomllib.load(fh)
    except FileNotFoundError as e:
        raise WorkspaceError(f"{path}: configuration file missing") from e
    except tomllib.TOMLDecodeError as e:
        raise WorkspaceError(f"{path}: invalid TOML: {e}") from e
    except UnicodeDecodeError as e:
        raise WorkspaceError(f"{path}: not UTF-8 text (byte {e.start}): TOML is UTF-8") from e
    except RecursionError as e:
        raise WorkspaceError(f"{path}: invalid TOML: values nested too deeply") from e
    except OSError as e:
        raise WorkspaceError(f"{path}: cannot read: {e.strerror}") from e
    return apply_env(data, os.environ if env is None else env)




def set_value(path: Path, section: str, key: str, value: str) -> None:
    """Set ``[section] key = "value"`` in a cpmap.toml, keeping its comments and layout."""
    import json
    import re
    import tempfile

    lines = path.read_text(encoding="utf-8").splitlines()
    line = f"{key} = {json.dumps(value)}"
    header = next((i for i, t in enumerate(lines) if t.strip() == f"[{section}]"), None)
    if header is None:
        lines += ["", f"[{section}]", line]
    else:
        end = next((i for i in range(header + 1, len(lines))
                    if lines[i].lstrip().startswith("[")), len(lines))
        at = next((i for i in range(header + 1, end)
                   if re.match(rf"\s*{re.escape(key)}\s*=", lines[i])), None)
        if at is None:
            lines.insert(header + 1, line)
        else:
            lines[at] = line
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # never write a file the next command cannot read
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def default_toml(name: str, policy: str) -> str:
    """A new workspace's cpmap.toml: the settings above, then ``policy`` (the ``[gate.CPn]``
    sections, which the control registry writes: :func:`cpmap.gate.policy.policy_toml`)."""
    return BASE_TOML.format(name=name) + policy


def apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Override ``[section] key`` from ``CPMAP_SECTION_KEY`` (sections present, or known: cpmap's
    own and those each control declares in the registry)."""
    from cpmap.controls import config_sections

    for section in config_sections():
        if any(name.startswith(f"CPMAP_{section.upper()}_") for name in env):
            data.setdefault(section, {})
    for section, values in data.items():
        if not isinstance(values, dict):
            continue
        prefix = f"CPMAP_{section.upper()}_"
        for name, raw in env.items():
            if name.startswith(prefix) and raw != "":
                values[name[len(prefix) :].lower()] = _parse_env_value(raw)
    if env.get("CPMAP_DATABASE_URL"):
        data.setdefault("store", {})["url"] = env["CPMAP_DATABASE_URL"]
    return data


def get(config: Mapping[str, Any], section: str, key: str, default: Any = None) -> Any:
    """Return ``config[section][key]`` or ``default``."""
    values = config.get(section)
    if isinstance(values, dict):
        return values.get(key, default)
    return default
