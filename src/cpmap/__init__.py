"""cpmap: the AI-security Control Points Map as software.

Ten controls across an ML system's life, each producing signed evidence into a tamper-evident
ledger, and a gate that decides from that evidence whether a model version may ship.

The public names below import lazily (PEP 562) so that ``cpmap data fingerprint`` starts in a
few tens of milliseconds: hashing a file must not wait for SQLAlchemy and cryptography to load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cpmap._version import __version__

_EXPORTS = {
    "Evidence": "cpmap.core.evidence",
    "Subject": "cpmap.core.evidence",
    "Verdict": "cpmap.core.evidence",
    "record": "cpmap.core.evidence",
    "Finding": "cpmap.core.findings",
    "Location": "cpmap.core.findings",
    "Severity": "cpmap.core.findings",
    "Workspace": "cpmap.core.workspace",
    "init": "cpmap.core.workspace",
    "open_workspace": "cpmap.core.workspace",
    "transform": "cpmap.provenance.lineage",
    "open_dataset": "cpmap.provenance.datasets",
}

__all__ = [*sorted(_EXPORTS), "__version__"]

if TYPE_CHECKING:
    from cpmap.core.evidence import Evidence as Evidence
    from cpmap.core.evidence import Subject as Subject
    from cpmap.core.evidence import Verdict as Verdict
    from cpmap.core.evidence import record as record
    from cpmap.core.findings import Finding as Finding
    from cpmap.core.findings import Location as Location
    from cpmap.core.findings import Severity as Severity
    from cpmap.core.workspace import Workspace as Workspace
    from cpmap.core.workspace import init as init
    from cpmap.core.workspace import open_workspace as open_workspace
    from cpmap.provenance.datasets import open_dataset as open_dataset
    from cpmap.provenance.lineage import transform as transform


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cpmap' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
