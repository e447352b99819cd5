"""Gateway settings: ``[gateway]`` in cpmap.toml, each overridable by ``CPMAP_GATEWAY_<KEY>``.

Every cap has a default that is safe for a small classifier; none can be switched off, only
moved. ``CPMAP_REDIS_URL`` (or ``redis_url``) moves rate limits and budgets to Redis so that
several gateway processes share one count.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from cpmap.gateway.errors import GatewayError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

IMAGE_FORMATS = ("JPEG", "PNG")  # the formats the structural checks in images.py know


@dataclass(frozen=True)
class GatewayConfig:
    max_body_bytes: int = 1 << 20
    max_elements: int = 65_536
    max_batch: int = 64
    range_margin: float = 0.1  # share of the training range accepted beyond each bound
    timeout_s: float = 5.0
    max_concurrency: int = 64
    # a local model whose last call took under this runs on the event loop for small batches
    # (the worker-thread hop costs more than it); 0 keeps every call in the pool with timeout
    inline_predict_ms: float = 1.0
    inline_max_rows: int = 8
    global_rate: str = "2000/second"
    default_rate: str = "100/minute"
    auth_fail_rate: str = "20/minute"  # failed authentications per client address
    default_budget: str = "1000/day"  # used when no CP5 extraction evidence exists
    budget_safety: float = 0.5  # share of the extraction cost a client may spend
    budget_window: str = "day"
    chat_token_budget: str = "200000/day"  # noqa: S105 - chat: prompt + completion tokens
    redis_url: str = ""
    fail_open: bool = False  # with Redis down: serve unlimited (logged, alerted) or 503
    redis_timeout_s: float = 2.0  # a Redis call slower than this counts as Redis down
    image_formats: tuple[str, ...] = IMAGE_FORMATS
    max_pixels: int = 16_000_000
    predlog_batch: int = 256  # prediction log: one ledger batch root per N requests ...
    predlog_interval_s: float = 10.0  # ... or every T seconds, whichever comes first
    key_refresh_s: float = 2.0  # revocations reach a running gateway within this time
    jwt_jwks: str = ""  # JWKS file or URL: enables JWT bearer tokens besides API keys
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
    jwt_scope_claim: str = "scope"
    jwt_leeway_s: float = 30.0
    jwt_jwks_min_refresh_s: float = 60.0  # unknown kid: at most one JWKS fetch per this time
    jwt_jwks_max_age_s: float = 3600.0  # the JWKS is fetched again when older than this

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_formats", tuple(f.upper() for f in self.image_formats))
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise GatewayError(f"[gateway] {f.name}: must not be negative")
        bad = [f for f in self.image_formats if f not in IMAGE_FORMATS]
        if bad or not self.image_formats:
            raise GatewayError(f"[gateway] image_formats: {bad or 'empty'}; choose from "
                               f"{', '.join(IMAGE_FORMATS)}")
        if self.budget_window not in ("day", "month"):
            raise GatewayError(f"[gateway] budget_window: {self.budget_window!r}; use day or "
                               "month")

    def with_(self, **changes: Any) -> GatewayConfig:
        return replace(self, **changes)


def _coerce(name: str, raw: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(raw, str):
                return raw.strip().lower() in ("1", "true", "yes", "on")
            return bool(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            return tuple(str(i).strip() for i in items if str(i).strip())
        return str(raw)
    except (TypeError, ValueError) as e:
        raise GatewayError(f"[gateway] {name}: cannot use {raw!r:.60}") from e


def load(ws: Workspace | None = None, env: Mapping[str, str] | None = None,
         **overrides: Any) -> GatewayConfig:
    """Defaults, then ``[gateway]`` in cpmap.toml, then the environment, then ``overrides``."""
    env = os.environ if env is None else env
    section = ws.config.get("gateway", {}) if ws is not None else {}
    known = {f.name: f.default for f in fields(GatewayConfig)}
    values: dict[str, Any] = {}
    for name, raw in dict(section if isinstance(section, dict) else {}).items():
        if name not in known:
            raise GatewayError(f"[gateway] {name}: unknown setting",
                               hint=f"known: {', '.join(sorted(known))}")
        values[name] = _coerce(name, raw, known[name])
    for name, default in known.items():
        raw = env.get(f"CPMAP_GATEWAY_{name.upper()}")
        if raw:
            values[name] = _coerce(name, raw, default)
    if env.get("CPMAP_REDIS_URL"):
        values["redis_url"] = env["CPMAP_REDIS_URL"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return GatewayConfig(**values)
