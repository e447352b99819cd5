"""Every table derived from the ledger, and the check ``cpmap ledger verify`` runs on them.

Each entry names a ``module:function(ws, log) -> rows checked`` by string, like the control
registry names code, so that the core does not import the packages that build on it; only the
CLI imports this module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from cpmap.core.backed import Divergences
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
    "model_events": "cpmap.registry.signed_rows:verify_events",
    "model_versions": "cpmap.registry.signed_rows:verify_versions",
    "models": "cpmap.models.signed_rows:verify_models",
    "datasets": "cpmap.provenance.signed_rows:verify_datasets",
    "lineage": "cpmap.provenance.signed_rows:verify_lineage",
    "gateway_keys": "cpmap.gateway.keys:verify_table",
    "redteam_findings (status)": "cpmap.redteam.signed_rows:verify_findings",
    "review_decisions": "cpmap.review.signed_rows:verify_decisions",
    "review_items (decided)": "cpmap.review.signed_rows:verify_items",
    "retrain_rollouts": "cpmap.retrain.signed_rows:verify_rollouts",
}


def check_derived(ws: Workspace) -> dict[str, int]:
    """Check every derived table against the signed log; rows checked per table.

    Every table is checked even after one fails, and the error names every divergence found
    (the first one first): an auditor sees the whole extent of a tampering at once."""
    log = SignedLog.load(ws)
    counts: dict[str, int] = {}
    problems: list[IntegrityError] = []
    for table, target in DERIVED.items():
        module, _, attr = target.partition(":")
        check: Callable[[Workspace, SignedLog], int] = getattr(
            importlib.import_module(module), attr)
        try:
            counts[table] = check(ws, log)
        except Divergences as e:
            problems += e.problems
        except IntegrityError as e:
            problems.append(e)
        except Error as e:
            problems.append(row_error(table, "?", e.message))
    if problems:
        raise Divergences(problems)
    return counts
