"""The thresholds a drift verdict is made with (``[drift]`` in cpmap.toml, ``CPMAP_DRIFT_*``).

A feature drifts when its test is significant after the Benjamini-Hochberg correction across
all features *and* its effect size reaches ``min_effect``: with 200k rows a shift nobody cares
about is "significant", and with 40 rows a large one may not be. Below ``min_rows`` on either
side there is no verdict at all rather than a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


@dataclass(frozen=True)
class DriftPolicy:
    alpha: float = 0.05  # false-discovery rate across features (BH), and the multivariate level
    correction: str = "bh"  # "bh" | "bonferroni" | "none"
    min_effect: float = 0.1  # Wasserstein / reference std (numeric), JS distance (categorical)
    min_rows: int = 30  # per side and feature, below it: no verdict
    min_expected: float = 5.0  # categories with fewer expected counts are pooled ("other")
    categorical_max_levels: int = 20  # an integer column with at most this many values
    multivariate_rows: int = 2000  # per side, sampled for the domain classifier
    min_auc_gain: float = 0.05  # the domain classifier's AUC must reach 0.5 + this
    bins: int = 64  # reference-quantile bins of the binned (Dask) path
    seed: int = 0
    stream: bool = True  # ADWIN / Page-Hinkley on live traffic in the gateway's log writer
    stream_delta: float = 0.002  # ADWIN's confidence parameter (smaller: fewer, surer alarms)
    stream_cooldown_s: float = 600.0  # at most one stream alarm entry per this many seconds

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise InputError(f"[drift] alpha: {self.alpha} must be in (0, 1)")
        if self.correction not in ("bh", "bonferroni", "none"):
            raise InputError(f"[drift] correction: {self.correction!r}; use bh, bonferroni "
                             "or none")
        if self.min_rows < 2 or self.bins < 2 or self.multivariate_rows < 20:
            raise InputError("[drift] min_rows and bins must be >= 2, multivariate_rows >= 20")
        if not 0.0 < self.stream_delta < 1.0 or self.stream_cooldown_s < 0:
            raise InputError("[drift] stream_delta must be in (0, 1), stream_cooldown_s >= 0")
        if self.min_effect < 0:
            raise InputError("[drift] min_effect must not be negative")

    def with_(self, **changes: Any) -> DriftPolicy:
        return replace(self, **changes)


def load_policy(ws: Workspace | None, **overrides: Any) -> DriftPolicy:
    """The policy from ``[drift]`` of the workspace's cpmap.toml, then ``overrides``."""
    values: dict[str, Any] = {}
    if ws is not None:
        section = ws.config.get("drift", {})
        values.update(dict(section) if isinstance(section, dict) else {})
    known = {f.name: f for f in fields(DriftPolicy)}
    unknown = [k for k in values if k not in known]
    if unknown:
        raise InputError(f"[drift] unknown setting(s) {', '.join(unknown)}")
    defaults = DriftPolicy()
    try:
        typed = {k: type(getattr(defaults, k))(v) for k, v in values.items()}
    except (TypeError, ValueError) as e:
        raise InputError(f"[drift]: {e}") from e
    typed.update({k: v for k, v in overrides.items() if v is not None})
    return DriftPolicy(**typed)
