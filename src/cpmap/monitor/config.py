"""Monitoring settings: ``[monitoring]`` in cpmap.toml, each overridable by
``CPMAP_MONITORING_<KEY>``. The webhook secret is read from the environment variable named by
``webhook_secret_env``, never from the file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

CHOICES = {"enabled": ("auto", "on", "off"), "policy": ("log", "flag", "refuse"),
           "probing_action": ("alert", "throttle", "block"),
           "filter_pii": ("redact", "block", "off"), "filter_secrets": ("redact", "block", "off")}


class MonitorConfigError(InputError):
    """A ``[monitoring]`` setting that cannot be used."""


@dataclass(frozen=True)
class MonitorConfig:
    enabled: str = "auto"  # auto: when a baseline about the served version exists
    baseline: str = ""  # pin a baseline entry index; refused unless it is about the version
    policy: str = "flag"  # log | flag (log + alert) | refuse (422) OOD inputs
    probing_action: str = "throttle"  # alert | throttle | block a probing client
    throttle_s: float = 60.0
    abstain_floor: float = 0.0  # classifiers: rows below this confidence abstain (0: off)
    retention_days: float = 30.0
    cooldown_s: float = 600.0  # one alert per kind and client per this many seconds
    webhook_url: str = ""
    webhook_secret_env: str = "CPMAP_MONITORING_WEBHOOK_SECRET"  # noqa: S105 - a name
    webhook_retries: int = 3
    filter_pii: str = "redact"  # text outputs (upstream chat)
    filter_secrets: str = "redact"
    deny_patterns: tuple[str, ...] = ()
    json_schema: str = ""  # a JSON Schema file text answers must satisfy (else quarantine)
    harvest_rows_per_minute: int = 20_000
    baseline_on_register: bool = True  # `cpmap registry register` builds the CP8 baseline
    sample_inputs: float = 0.0  # CP9: share of requests whose PII-redacted rows are logged

    def __post_init__(self) -> None:
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise MonitorConfigError(f"[monitoring] {name}: {getattr(self, name)!r}; use "
                                         f"{' | '.join(allowed)}")
        if not 0 <= self.sample_inputs <= 1:
            raise MonitorConfigError("[monitoring] sample_inputs: a share in [0, 1]")
        if not 0 <= self.abstain_floor < 1:
            raise MonitorConfigError("[monitoring] abstain_floor: a confidence in [0, 1)")
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise MonitorConfigError(f"[monitoring] webhook_url {self.webhook_url!r:.60}: "
                                     "an http(s) URL")

    def webhook_secret(self, env: Mapping[str, str] | None = None) -> bytes:
        value = (os.environ if env is None else env).get(self.webhook_secret_env, "")
        if self.webhook_url and not value:
            raise MonitorConfigError(f"[monitoring] webhook_url is set but "
                                     f"{self.webhook_secret_env} is empty (the HMAC secret)")
        return value.encode()


def _coerce(name: str, raw: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            return _boolean(name, raw)
        if isinstance(default, tuple):
            items = raw.split("\n") if isinstance(raw, str) else list(raw)
            return tuple(str(i) for i in items if str(i))
        if isinstance(default, int) and not isinstance(default, bool):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError) as e:
        raise MonitorConfigError(f"[monitoring] {name}: cannot use {raw!r:.60}") from e


def _boolean(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise MonitorConfigError(f"[monitoring] {name}: {raw!r:.60} is not true or false")


def load(ws: Workspace | None = None, env: Mapping[str, str] | None = None,
         **overrides: Any) -> MonitorConfig:
    """Defaults, then ``[monitoring]``, then ``CPMAP_MONITORING_*``, then ``overrides``."""
    env = os.environ if env is None else env
    section = ws.config.get("monitoring", {}) if ws is not None else {}
    known = {f.name: f.default for f in fields(MonitorConfig)}
    values: dict[str, Any] = {}
    for name, raw in dict(section if isinstance(section, dict) else {}).items():
        if name not in known:
            raise MonitorConfigError(f"[monitoring] {name}: unknown setting",
                                     hint=f"known: {', '.join(sorted(known))}")
        values[name] = _coerce(name, raw, known[name])
    for name, default in known.items():
        raw = env.get(f"CPMAP_MONITORING_{name.upper()}")
        if raw:
            values[name] = _coerce(name, raw, default)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return MonitorConfig(**values)
