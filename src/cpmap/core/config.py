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

DEFAULT_TOML = """\
# cpmap workspace configuration.
# Every setting can also be given as an environment variable CPMAP_<SECTION>_<KEY>,
# e.g. CPMAP_STORE_URL or CPMAP_SOURCES_TRUSTED='["file://*"]'.

[workspace]
name = "{name}"

[store]
# SQLAlchemy URL of the store. Empty: the embedded SQLite file .cpmap/store.db.
# CPMAP_DATABASE_URL also sets it, e.g. postgresql+psycopg://127.0.0.1:5432/test
url = ""

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

[gate]
# The release gate (`cpmap gate NAME@VERSION`, `cpmap registry promote`): one requirement per
# control point, evaluated on signed evidence about this exact model digest and its training
# data. A required control without evidence fails with "no evidence". A control that is not
# required is still evaluated when evidence exists. Override any key with an environment
# variable, e.g. CPMAP_GATE_CP4_MIN_ROBUST_ACCURACY=0.6.

[gate.CP1]
# Training data (and its recorded ancestors) registered, from trusted sources, intact, and
# signed: a verified supplier attestation or signature evidence on it or an ancestor.
required = true
signed = true
allow_untrusted_sources = false

[gate.CP2]
# Set required = true when training data can hold personal data (the demo digits cannot).
required = false
max_pii_findings = 0
min_k = 5

[gate.CP3]
# No finding at or above fail_severity (dependencies), no secrets, model files safe.
required = true
fail_severity = "critical"
max_secrets = 0
model_files = "safe"

[gate.CP4]
# Robust accuracy under `attack` at `eps` (and clean accuracy) from a robustness evaluation.
required = true
attack = "pgd"
eps = 0.15
min_robust_accuracy = 0.4
min_clean_accuracy = 0.8

[gate.CP5]
# Membership-inference TPR at 0.1% FPR at most this, and no open finding at or above
# fail_severity from red-team campaigns.
required = true
"max_membership_tpr_at_0.1pct_fpr" = 0.05
fail_severity = "high"

[gate.CP6]
# A model card with these fields filled in (`cpmap registry card`).
required = true
card_fields = ["intended_use", "limitations"]

[gate.CP7]
required = false

[gate.CP8]
required = false

[gate.CP9]
required = false

[gate.CP10]
required = false
"""


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
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
    return apply_env(data, os.environ if env is None else env)


# Sections that CPMAP_<SECTION>_<KEY> may set even when the file does not have them.
KNOWN_SECTIONS = ("workspace", "store", "sources", "privacy", "secrets", "images", "access",
                  "models", "robustness", "redteam", "gate")


def apply_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Override ``[section] key`` from ``CPMAP_SECTION_KEY`` (sections present or known)."""
    for section in KNOWN_SECTIONS:
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
