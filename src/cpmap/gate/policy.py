"""The gate policy: one requirement per control point, from ``[gate]`` in cpmap.toml.

Defaults live here (and, commented, in the ``cpmap.toml`` that ``cpmap init`` writes); the
workspace file overrides them per key, and so does ``CPMAP_GATE_CP4_MIN_ROBUST_ACCURACY=0.6``
style environment variables. A key the gate does not know is an error, not a silent no-op: a
misspelt threshold must never weaken a release gate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cpmap.core.evidence import CONTROLS
from cpmap.errors import InputError

SEVERITIES = ("critical", "high", "medium", "low", "info", "none")
MODEL_FILES = ("safe", "any")  # "any": the model-file scan verdict does not gate

# Each control: "required" plus its own thresholds. CP7..CP10 run after release (serving and
# operations), so they cannot gate a promotion by default; their evidence still counts if present.
DEFAULTS: dict[str, dict[str, Any]] = {
    "CP1": {"required": True, "signed": True, "allow_untrusted_sources": False},
    "CP2": {"required": False, "max_pii_findings": 0, "min_k": 5},
    "CP3": {"required": True, "fail_severity": "critical", "max_secrets": 0,
            "model_files": "safe"},
    "CP4": {"required": True, "attack": "pgd", "eps": 0.15, "min_robust_accuracy": 0.4,
            "min_clean_accuracy": 0.8},
    "CP5": {"required": True, "max_membership_tpr_at_0.1pct_fpr": 0.05,
            "fail_severity": "high"},
    "CP6": {"required": True, "card_fields": ["intended_use", "limitations"]},
    "CP7": {"required": False},
    "CP8": {"required": False},
    "CP9": {"required": False},
    "CP10": {"required": False},
}

# Controls that may also honour the evidence's own verdict ("fail" evidence fails the control).
FAIL_ON_FAILED_EVIDENCE = {"CP1", "CP2", "CP3", "CP6", "CP7", "CP8", "CP9", "CP10"}


@dataclass(frozen=True)
class Policy:
    rules: Mapping[str, Mapping[str, Any]]

    def rule(self, control: str) -> Mapping[str, Any]:
        return self.rules[control]

    def required(self, control: str) -> bool:
        return bool(self.rules[control].get("required", False))

    def to_dict(self) -> dict[str, Any]:
        return {c: dict(r) for c, r in self.rules.items()}


def _check_value(control: str, key: str, value: Any, default: Any) -> Any:
    where = f"[gate.{control}] {key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{where}: expected true or false, got {value!r}")
    elif isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):  # NaN compares false: it would pass every threshold
            raise InputError(f"{where}: expected a finite number, got {value!r}")
        if value < 0:
            raise InputError(f"{where}: must not be negative")
    elif isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{where}: expected a list of strings")
    elif key.endswith("severity") and value not in SEVERITIES:
        raise InputError(f"{where}: expected one of {', '.join(SEVERITIES)}")
    elif key == "model_files" and value not in (*MODEL_FILES, ""):
        # anything but "safe" skips the check: a typo must not silently weaken the gate
        raise InputError(f"{where}: expected one of {', '.join(MODEL_FILES)}, got {value!r}")
    elif not isinstance(value, str):
        raise InputError(f"{where}: expected a string, got {value!r}")
    return value


def from_config(section: Mapping[str, Any] | None) -> Policy:
    """Merge ``[gate]`` over the defaults, checking every key and value."""
    rules = {c: dict(r) for c, r in DEFAULTS.items()}
    for key, value in (section or {}).items():
        if isinstance(value, dict):
            control = key.upper()
            if control not in CONTROLS:
                raise InputError(f"[gate.{key}]: not a control point (CP1..CP10)")
            items = list(value.items())
        else:  # CPMAP_GATE_CP4_MIN_ROBUST_ACCURACY arrives as gate.cp4_min_robust_accuracy
            head, _, rest = key.partition("_")
            control = head.upper()
            if control not in CONTROLS or not rest:
                raise InputError(f"[gate] {key}: unknown setting (use [gate.CPn] tables)")
            items = [(rest, value)]
        for k, v in items:
            k = _canonical_key(control, k)
            if k not in DEFAULTS[control]:
                known = ", ".join(DEFAULTS[control])
                raise InputError(f"[gate.{control}] {k}: unknown setting (known: {known})")
            rules[control][k] = _check_value(control, k, v, DEFAULTS[control][k])
    return Policy(rules)


def _canonical_key(control: str, key: str) -> str:
    """Environment variables cannot hold dots: accept ``..._at_0_1pct_fpr`` for ``0.1pct``."""
    if key in DEFAULTS[control]:
        return key
    for known in DEFAULTS[control]:
        if known.replace(".", "_") == key:
            return known
    return key


def load(ws: Any) -> Policy:
    section = ws.config.get("gate") if isinstance(getattr(ws, "config", None), dict) else None
    return from_config(section if isinstance(section, dict) else None)

