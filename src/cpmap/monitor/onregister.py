"""The CP8 baseline built when a version is registered (``cpmap registry register``).

The issue's contract: registering a version builds its input baseline from the training data
its lineage names. :func:`on_register` does that when the lineage has datasets the model's
features fit, then *verifies* it as the gateway will (:func:`cpmap.monitor.baseline.current`:
signed entry, object bytes against their digest, about this digest). When it cannot, the
registration still stands and the caller prints one line saying why and how to build it later.
Opt out with ``--no-baseline`` or ``[monitoring] baseline_on_register = false``
(``CPMAP_MONITORING_BASELINE_ON_REGISTER=false``). A version that already has a verified
baseline is left alone (re-registering is idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cpmap.errors import Error

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.registry.manifest import ModelVersion


@dataclass(frozen=True)
class Built:
    entry: int
    sha256: str
    note: str


@dataclass(frozen=True)
class NotBuilt:
    note: str


def enabled(ws: Workspace, flag: bool | None) -> bool:
    """The ``--baseline/--no-baseline`` flag when given, else the setting (default on)."""
    if flag is not None:
        return flag
    from cpmap.monitor.config import load

    return load(ws).baseline_on_register


def on_register(ws: Workspace, mv: ModelVersion, fpr: float = 0.01) -> Built | NotBuilt:
    """Build and verify ``mv``'s baseline; a :class:`NotBuilt` with the reason when it cannot."""
    from cpmap.monitor import baseline as bl

    later = f"build it later with `cpmap monitor baseline {mv.ref}`"
    if not mv.lineage.datasets:
        return NotBuilt(f"no CP8 baseline for {mv.ref}: its lineage names no dataset "
                        f"(register with --dataset); {later}")
    try:
        existing = bl.current(ws, mv.digest)
        if existing is not None and existing.entry is not None:
            return Built(existing.entry, existing.sha256,
                         f"CP8 baseline of {mv.ref}: #{existing.entry} (already built)")
        base, entry = bl.build(ws, mv.ref, fpr=fpr)
        found = bl.current(ws, mv.digest)
    except Error as e:
        return NotBuilt(f"no CP8 baseline for {mv.ref}: {e.message}; {later}")
    if found is None or found.sha256 != base.sha256:
        return NotBuilt(f"no CP8 baseline for {mv.ref}: entry #{entry.index} does not verify; "
                        f"{later}")
    fa = entry.predicate.get("details", {}).get("highlights", [""])[0]
    return Built(entry.index, base.sha256, f"CP8 baseline #{entry.index} recorded and verified"
                 f" ({fa.split('; ')[-1] if fa else 'see cpmap monitor baseline'})")
