"""CP2 policy from ``cpmap.toml`` and the one helper that records CP2 evidence.

Policy (all optional)::

    [privacy]
    k = 5              # minimum k-anonymity of released tables
    l = 2              # minimum distinct l-diversity when a sensitive column is named
    t = 0.5            # maximum t-closeness distance (0 disables the check)
    max_unique = 0.05  # maximum share of records unique on their quasi-identifiers
    fail_on = "direct" # scan verdict: "direct" identifiers fail, "any" PII fails
    phone_regions = ["GB", "DE", "FR", ...]  # countries whose national-format numbers
                       # (no "+") the scan looks for; ISO 3166 codes, first tried first

Verdicts: a scan fails when it finds unredacted direct identifiers (cards, SSNs, e-mail,
phones, IBANs, IPs, national IDs, names), warns on quasi-identifiers only; an assessment fails
when k, l or t miss the policy; a DP release passes only within the dataset's budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cpmap.errors import WorkspaceError
from cpmap.privacy.phones import DEFAULT_REGIONS

if TYPE_CHECKING:
    from cpmap.core.evidence import Subject, Verdict
    from cpmap.core.findings import Finding
    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace
    from cpmap.privacy.predicates import CP2Evidence

MAX_EVIDENCE_FINDINGS = 200


@dataclass(frozen=True)
class Policy:
    k: int = 5
    l: int = 2  # noqa: E741 - the letter of l-diversity
    t: float = 0.5
    max_unique: float = 0.05
    fail_on: str = "direct"
    phone_regions: tuple[str, ...] = DEFAULT_REGIONS


def _phone_regions(value: Any) -> tuple[str, ...]:
    """``[privacy] phone_regions``: a list of regions ``phonenumbers`` knows (GB, not UK)."""
    import phonenumbers

    known = phonenumbers.SUPPORTED_REGIONS
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WorkspaceError("cpmap.toml [privacy] phone_regions: a list of region codes, "
                             'e.g. ["GB", "FR"]')
    regions = tuple(dict.fromkeys(v.strip().upper() for v in value))
    unknown = [r for r in regions if r not in known]
    if unknown:
        raise WorkspaceError(f"cpmap.toml [privacy] phone_regions: unknown region "
                             f"{', '.join(unknown)} (ISO 3166 codes: GB, DE, FR, ...)")
    return regions


# every [privacy] key some part of CP2 reads; another key is a typo that would silently leave
# a default in force (k_anonymty = 10 keeping k = 5), so it is refused
KNOWN_KEYS = frozenset({"k", "l", "t", "max_unique", "fail_on", "phone_regions",
                        "default_budget", "default_delta_budget", "budgets", "hierarchies"})


def check_keys(ws: Workspace) -> None:
    """Refuse a ``[privacy]`` section that is not a table or has keys CP2 does not know."""
    section = ws.config.get("privacy", {})
    if not isinstance(section, dict):
        raise WorkspaceError("cpmap.toml [privacy]: must be a table of settings")
    unknown = sorted(set(section) - KNOWN_KEYS)
    if unknown:
        raise WorkspaceError(f"cpmap.toml [privacy] {', '.join(unknown)}: unknown setting "
                             f"(known: {', '.join(sorted(KNOWN_KEYS))}; check CPMAP_PRIVACY_* "
                             "too)")


def load_policy(ws: Workspace | None) -> Policy:
    if ws is None:
        return Policy()
    check_keys(ws)
    d = Policy()
    try:
        k = int(ws.setting("privacy", "k", d.k))
        l_ = int(ws.setting("privacy", "l", d.l))
        t = float(ws.setting("privacy", "t", d.t))
        mu = float(ws.setting("privacy", "max_unique", d.max_unique))
    except (TypeError, ValueError) as e:
        raise WorkspaceError(f"cpmap.toml [privacy]: k, l must be integers and t, max_unique "
                             f"numbers: {e}") from e
    fail_on = str(ws.setting("privacy", "fail_on", d.fail_on))
    if k < 1 or l_ < 1 or not 0 <= t <= 1 or not 0 <= mu <= 1 or fail_on not in ("direct",
                                                                                   "any"):
        raise WorkspaceError("cpmap.toml [privacy]: need k >= 1, l >= 1, 0 <= t <= 1, "
                             "0 <= max_unique <= 1, fail_on = \"direct\" or \"any\"")
    regions = _phone_regions(ws.setting("privacy", "phone_regions", list(d.phone_regions)))
    return Policy(k, l_, t, mu, fail_on, regions)


def record_cp2(ws: Workspace, kind: type[CP2Evidence], subjects: Sequence[Subject],
               verdict: Verdict, metrics: Mapping[str, Any], findings: Sequence[Finding] = (),
               details: Mapping[str, Any] | None = None) -> Entry:
    """Sign and append CP2 evidence of ``kind``; findings beyond the cap are counted, not
    stored."""
    from cpmap.core.evidence import Evidence, record

    kept = list(findings)[:MAX_EVIDENCE_FINDINGS]
    extra = dict(details or {})
    if len(findings) > len(kept):
        extra["findings_truncated"] = len(findings) - len(kept)
    return record(Evidence.of(kind.strict(verdict, metrics, kept, extra), subjects), ws)
