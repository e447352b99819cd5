"""Every table derived from the ledger, and the check ``cpmap ledger verify`` runs on them.

Each entry names a ``module:function(ws, log) -> rows checked`` by string, like the control
registry names code, so that the core does not import the packages that build on it; only the
CLI imports this module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from cpmap.core.verified import IntegrityError, SignedLog, row_error
from cpmap.errors import Error

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

DERIVED: dict[str, str] = {
    "ledger_entries (control, kind, verdict)": "cpmap.core.derived:check_columns",
    "ledger_subjects": "cpmap.core.derived:check_subjects",
    "trusted_pickles": "cpmap.models.trust:verify_table",
    "trusted_keys": "cpmap.provenance.trust:verify_table",
    "privacy_spends": "cpmap.privacy.budget:verify_spends",
    "model_aliases": "cpmap.registry.signed_aliases:verify_aliases",
}


def check_derived(ws: Workspace) -> dict[str, int]:
    """Check every derived table against the signed log; rows checked per table."""
    log = SignedLog.load(ws)
    counts: dict[str, int] = {}
    for table, target in DERIVED.items():
        module, _, attr = target.partition(":")
        check: Callable[[Workspace, SignedLog], int] = getattr(
            importlib.import_module(module), attr)
        try:
            counts[table] = check(ws, log)
        except IntegrityError:
            raise
        except Error as e:
            raise row_error(table, "?", e.message) from e
    return counts
