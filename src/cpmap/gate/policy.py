"""The gate policy: one typed rule per control point, from ``[gate]`` in cpmap.toml.

Each control declares its rule (a :class:`~cpmap.core.control.Rule` dataclass with typed
defaults) in its package; ``cpmap init`` writes those defaults, commented, into cpmap.toml
(:func:`policy_toml`); the workspace file overrides them per key, and so do
``CPMAP_GATE_CP4_MIN_ROBUST_ACCURACY=0.6`` style environment variables. A key the gate does not
know is an error, not a silent no-op: a misspelt threshold must never weaken a release gate.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cpmap.controls import all_controls
from cpmap.core.control import Rule
from cpmap.core.predicate import to_json
from cpmap.errors import InputError


@dataclass(frozen=True)
class Policy:
    rules: Mapping[str, Rule]

    def rule(self, control: str) -> Rule:
        return self.rules[control]

    def required(self, control: str, stage: str | None = None) -> bool:
        """Whether ``control`` must pass (for a promotion to ``stage``, when one is given)."""
        rule = self.rules[control]
        return rule.required or (stage is not None and stage in rule.required_for)

    def to_dict(self) -> dict[str, Any]:
        """The effective policy, keyed as in cpmap.toml (what gate evidence records)."""
        return {c: {key: to_json(getattr(r, f.name)) for key, f in settings(type(r)).items()}
                for c, r in self.rules.items()}


def settings(rule: type[Rule]) -> dict[str, dataclasses.Field[Any]]:
    """A rule's settings by their cpmap.toml key."""
    return {str(f.metadata.get("key") or f.name): f for f in dataclasses.fields(rule)}


def defaults() -> dict[str, Rule]:
    return {c.id: c.gate.rule() for c in all_controls()}


def from_config(section: Mapping[str, Any] | None) -> Policy:
    """Merge ``[gate]`` over the defaults, checking every key and value."""
    rules = defaults()
    changes: dict[str, dict[str, Any]] = {c: {} for c in rules}
    for key, value in (section or {}).items():
        if isinstance(value, dict):
            control = key.upper()
            if control not in rules:
                raise InputError(f"[gate.{key}]: not a control point ({_ids(rules)})")
            items = list(value.items())
        else:  # CPMAP_GATE_CP4_MIN_ROBUST_ACCURACY arrives as gate.cp4_min_robust_accuracy
            head, _, rest = key.partition("_")
            control = head.upper()
            if control not in rules or not rest:
                raise InputError(f"[gate] {key}: unknown setting (use [gate.CPn] tables)")
            items = [(rest, value)]
        known = settings(type(rules[control]))
        for k, v in items:
            k = _canonical_key(known, k)
            if k not in known:
                raise InputError(f"[gate.{control}] {k}: unknown setting (known: "
                                 f"{', '.join(known)})")
            changes[control][known[k].name] = _check(f"[gate.{control}] {k}", v,
                                                     _hint(type(rules[control]), known[k]))
    return Policy({c: dataclasses.replace(r, **changes[c]) for c, r in rules.items()})


def _ids(rules: Mapping[str, Rule]) -> str:
    return ", ".join(rules)


def _hint(rule: type[Rule], f: dataclasses.Field[Any]) -> Any:
    return typing.get_type_hints(rule)[f.name]


def _check(where: str, value: Any, hint: Any) -> Any:
    """``value`` as the setting's type, or bad input naming the setting."""
    if hint is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint in (int, float):
        return _number(where, value, hint)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        try:
            return hint(value)
        except ValueError:
            choices = ", ".join(m.value for m in hint if m.value)
            raise InputError(f"{where}: expected one of {choices}, got {value!r}") from None
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{where}: expected a list of strings")
        return tuple(value)
    if not isinstance(value, str):
        raise InputError(f"{where}: expected a string, got {value!r}")
    return value


def _number(where: str, value: Any, hint: type[Any]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):  # NaN compares false: it would pass every threshold
        raise InputError(f"{where}: expected a finite number, got {value!r}")
    if value < 0:
        raise InputError(f"{where}: must not be negative")
    if hint is int and value != int(value):
        raise InputError(f"{where}: expected a whole number, got {value!r}")
    return int(value) if hint is int else float(value)


def _canonical_key(known: Mapping[str, Any], key: str) -> str:
    """Environment variables cannot hold dots: accept ``..._at_0_1pct_fpr`` for ``0.1pct``."""
    if key in known:
        return key
    return next((k for k in known if k.replace(".", "_") == key), key)


def load(ws: Any) -> Policy:
    section = ws.config.get("gate") if isinstance(getattr(ws, "config", None), dict) else None
    if section is not None and not isinstance(section, dict):
        # `gate = 5` would otherwise mean "the defaults": a policy typo must not pass silently
        raise InputError(f"cpmap.toml gate = {type(section).__name__}: [gate] must be a table "
                         "(e.g. [gate.CP4] min_robust_accuracy = 0.5)")
    return from_config(section)


def policy_toml() -> str:
    """The ``[gate.CPn]`` sections of a new cpmap.toml: every rule's defaults, documented."""
    out = []
    for c in all_controls():
        rule = c.gate.rule
        out.append(f"[gate.{c.id}]")
        doc = (rule.__doc__ or "").strip() if rule is not Rule else ""
        out += [f"# {line.strip()}" for line in doc.splitlines() if line.strip()]
        default = rule()
        out += [f"{_toml_key(k)} = {_toml_value(to_json(getattr(default, f.name)))}"
                for k, f in settings(rule).items()]
        out.append("")
    return "\n".join(out)


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").isalnum() else f'"{key}"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
