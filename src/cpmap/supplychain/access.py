"""Least-privilege data access: a policy in ``cpmap.toml``, checks, enforcement and review.

::

    [access]
    raw = ["customers*"]          # raw data (datasets registered without parents count too)

    [access.principals]
    alice = ["analyst"]
    trainer-bot = ["trainer"]

    [access.roles.analyst]
    grants = [{ datasets = ["customers-redacted"], actions = ["read"], columns = ["age", "zip"] }]

    [access.roles.trainer]
    grants = [{ datasets = ["customers-redacted", "digits"], actions = ["read"] }]

A grant allows ``actions`` on datasets whose name matches one of its fnmatch ``datasets``
patterns; ``columns`` (default all) limits which columns it covers, so a grant listing columns
does not open the whole table. Everything not granted is denied. Once principals are defined,
``open_dataset(..., principal=...)`` enforces the policy: a denial raises
:class:`AccessDenied` and is recorded in the ledger as failed CP3 evidence.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cpmap.core.evidence import Evidence, Subject, Verdict, canonical_json, record
from cpmap.core.findings import Finding, Location, Severity
from cpmap.core.refs import Ref
from cpmap.core.tags import Atlas, OwaspLLM, OwaspML
from cpmap.errors import Error, InputError
from cpmap.supplychain.predicates import AccessRefused, AccessReview

if TYPE_CHECKING:
    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace

ACTIONS = ("read", "write", "delete", "admin")
WRITE_ACTIONS = {"write", "delete", "admin", "*"}
TAGS = (Atlas.T0025, OwaspML.ML06,
        OwaspLLM.LLM02)


class AccessDenied(Error):
    """The access policy does not grant this principal this action on this dataset."""

    exit_code = 1


@dataclass(frozen=True)
class Grant:
    datasets: tuple[str, ...]
    actions: tuple[str, ...]
    columns: tuple[str, ...] = ("*",)

    def covers(self, action: str, dataset: str, columns: Sequence[str] | None) -> bool:
        if not any(fnmatch.fnmatchcase(dataset, p) for p in self.datasets):
            return False
        if action not in self.actions and "*" not in self.actions:
            return False
        if "*" in self.columns:
            return True
        if columns is None:  # the whole dataset, but this grant only covers some columns
            return False
        return all(any(fnmatch.fnmatchcase(c, p) for p in self.columns) for c in columns)


@dataclass(frozen=True)
class Policy:
    principals: Mapping[str, tuple[str, ...]]
    roles: Mapping[str, tuple[Grant, ...]]
    raw: tuple[str, ...] = ()
    source: str = "cpmap.toml"

    @property
    def enabled(self) -> bool:
        return bool(self.principals)

    def document(self) -> dict[str, Any]:
        """The policy as JSON (what :meth:`digest` hashes and a policy entry signs)."""
        return {"principals": {k: list(v) for k, v in self.principals.items()},
                "roles": {k: [dict(g.__dict__) for g in v] for k, v in self.roles.items()},
                "raw": list(self.raw)}

    def digest(self) -> str:
        return hashlib.sha256(canonical_json(self.document())).hexdigest()


@dataclass(frozen=True)
class Decision:
    principal: str
    action: str
    dataset: str
    allowed: bool
    reason: str
    role: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _strings(value: Any, where: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    if value is None:
        return default
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InputError(f"{where}: expected a string or a list of strings")


def _grant(raw: Any, where: str) -> Grant:
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: a grant is a table with datasets and actions")
    unknown = set(raw) - {"datasets", "actions", "columns"}
    if unknown:
        raise InputError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    actions = _strings(raw.get("actions"), f"{where}.actions")
    bad = [a for a in actions if a not in (*ACTIONS, "*")]
    if bad or not actions:
        raise InputError(f"{where}.actions: {bad[0] if bad else 'empty'!r} is not one of "
                         f"{', '.join(ACTIONS)} or *")
    datasets = _strings(raw.get("datasets"), f"{where}.datasets")
    if not datasets:
        raise InputError(f"{where}.datasets: empty")
    return Grant(datasets, actions, _strings(raw.get("columns"), f"{where}.columns", ("*",)))


def load_policy(config: Any, source: str = "cpmap.toml") -> Policy:
    """The ``[access]`` section as a :class:`Policy`; malformed entries are bad input."""
    if config is not None and not isinstance(config, Mapping):
        # a policy that silently reads as "no policy" would turn enforcement off
        raise InputError(f"{source}: [access] must be a table")
    section = config if isinstance(config, Mapping) else {}
    for key in ("principals", "roles"):
        if not isinstance(section.get(key) or {}, Mapping):
            raise InputError(f"{source}: [access.{key}] must be a table")
    principals: dict[str, tuple[str, ...]] = {}
    for name, value in (section.get("principals") or {}).items():
        roles = value.get("roles") if isinstance(value, Mapping) else value
        principals[str(name)] = _strings(roles, f"{source}: [access.principals] {name}")
    grants_of: dict[str, tuple[Grant, ...]] = {}
    for name, value in (section.get("roles") or {}).items():
        where = f"{source}: [access.roles.{name}]"
        grants = value.get("grants") if isinstance(value, Mapping) else None
        if not isinstance(grants, list):
            raise InputError(f"{where}: needs grants = [...]")
        grants_of[str(name)] = tuple(_grant(g, f"{where} grants[{i}]")
                                     for i, g in enumerate(grants))
    return Policy(principals, grants_of, _strings(section.get("raw"), f"{source}: [access] raw"),
                  source)


def workspace_policy(ws: Workspace) -> Policy:
    return load_policy(ws.config.get("access"), str(ws.dir / "cpmap.toml"))


def check(policy: Policy, principal: str, action: str, dataset: str,
          columns: Sequence[str] | None = None) -> Decision:
    """Whether ``principal`` may ``action`` on ``dataset`` (a name, ``name@N`` accepted)."""
    name = Ref.parse(dataset, "dataset").name
    if action not in ACTIONS:
        raise InputError(f"action {action!r}: expected one of {', '.join(ACTIONS)}")
    if principal not in policy.principals:
        return Decision(principal, action, name, False, "unknown principal: no roles granted")
    for role in policy.principals[principal]:
        for grant in policy.roles.get(role, ()):
            if grant.covers(action, name, columns):
                return Decision(principal, action, name, True, f"granted by role {role}", role)
    what = f"columns {', '.join(columns)} of " if columns else ""
    return Decision(principal, action, name, False,
                    f"no role of {principal} grants {action} on {what}{name}")


def record_policy(ws: Workspace, policy: Policy) -> int | None:
    """The ledger index of the signed ``access-policy`` entry for ``policy``, recording one
    when the policy differs from the latest signed one (an access-policy change is a ledger
    entry, made before any decision under it). None: no policy was ever in force."""
    from cpmap.core.verified import SignedLog
    from cpmap.supplychain.predicates import AccessPolicyChange

    signed = SignedLog.load(ws).of_kind("access-policy")
    digest = policy.digest()
    previous = str(signed[-1].details.get("policy_sha256", "")) if signed else None
    if previous == digest or (previous is None and not policy.enabled):
        return signed[-1].index if signed else None
    change = AccessPolicyChange(
        verdict=Verdict.INFO, principals=len(policy.principals), roles=len(policy.roles),
        policy_sha256=digest, previous_sha256=previous, policy=policy.document(),
        highlights=(f"access policy sha256:{digest[:16]} in force "
                    f"({len(policy.principals)} principals, {len(policy.roles)} roles)",))
    return record(Evidence.of(change, [Subject("access-policy", digest)]), ws).index


def enforce(ws: Workspace, principal: str, action: str, ref: str, digest: str) -> None:
    """Raise :class:`AccessDenied` (recorded in the ledger) unless the policy allows it.

    A workspace without ``[access.principals]`` has no policy to enforce. A policy that
    differs from the latest signed one is recorded first (:func:`record_policy`).
    """
    policy = workspace_policy(ws)
    record_policy(ws, policy)
    if not policy.enabled:
        return
    decision = check(policy, principal, action, ref)
    if decision.allowed:
        return
    finding = Finding("CP3-ACCESS-DENIED", Severity.HIGH,
                      f"{principal} denied {action} on {ref}: {decision.reason}",
                      Location(path=policy.source, field=ref),
                      "grant a role with exactly this access, or use a dataset this principal "
                      "may read (e.g. a redacted version)", TAGS, {"principal": principal})
    record(Evidence.of(AccessRefused(verdict=Verdict.FAIL, findings=(finding,),
                                     principal=principal, action=action, dataset=ref,
                                     reason=decision.reason), [Subject(ref, digest)]), ws)
    raise AccessDenied(f"{ref}: {principal} may not {action}: {decision.reason}",
                       hint="see [access] in cpmap.toml and `cpmap access review`")


def _finding(rule: str, sev: Severity, policy: Policy, where: str, msg: str,
             fix: str) -> Finding:
    return Finding(rule, sev, msg, Location(path=policy.source, field=where), fix, TAGS)


def _is_wildcard(pattern: str) -> bool:
    return set(pattern) <= {"*"}


def _covers_raw(pattern: str, raw_names: Iterable[str], raw_patterns: Iterable[str]) -> bool:
    return (any(fnmatch.fnmatchcase(n, pattern) for n in raw_names)
            or any(pattern == p or _is_wildcard(pattern) for p in raw_patterns))


def review(policy: Policy, raw_names: Sequence[str], used: set[str]) -> list[Finding]:
    """Over-broad or stale grants: wildcards, raw-data writes, unknown roles, unused principals."""
    out = []
    for role, grants in sorted(policy.roles.items()):
        for i, g in enumerate(grants):
            where = f"access.roles.{role}.grants[{i}]"
            wild = [f for f, v in (("datasets", g.datasets), ("actions", g.actions))
                    if any(_is_wildcard(p) for p in v)]
            if wild:
                out.append(_finding("CP3-ACCESS-WILDCARD", Severity.MEDIUM, policy, where,
                                    f"role {role} grants * on {' and '.join(wild)}",
                                    "list the datasets and actions the role needs"))
            writes = WRITE_ACTIONS & set(g.actions)
            raw_hit = [p for p in g.datasets if _covers_raw(p, raw_names, policy.raw)]
            if writes and raw_hit:
                out.append(_finding("CP3-ACCESS-RAW-WRITE", Severity.HIGH, policy, where,
                                    f"role {role} may {'/'.join(sorted(writes))} raw data "
                                    f"({', '.join(raw_hit)})",
                                    "raw data is append-only: write derived versions through "
                                    "a recorded transform instead"))
    for principal, roles in sorted(policy.principals.items()):
        out.extend(_finding("CP3-ACCESS-UNKNOWN-ROLE", Severity.MEDIUM, policy,
                            f"access.principals.{principal}",
                            f"{principal} has role {role}, which is not defined",
                            f"define [access.roles.{role}] or remove it")
                   for role in roles if role not in policy.roles)
        if principal not in used:
            out.append(_finding("CP3-ACCESS-UNUSED", Severity.LOW, policy,
                                f"access.principals.{principal}",
                                f"{principal} has never accessed a dataset (no ledger entry)",
                                "remove principals that do not need access"))
    return out


def ledger_principals(ws: Workspace) -> set[str]:
    """Principals named by dataset-access (CP1) or access-denied (CP3) ledger entries."""
    from cpmap.core.ledger import Ledger

    ledger = Ledger(ws)
    names = set()
    for entry in [*ledger.entries(control="CP1"), *ledger.entries(control="CP3")]:
        kind = str(entry.statement.get("predicateType", ""))
        if "/dataset-access/" in kind or "/access-denied/" in kind:
            principal = entry.predicate.get("details", {}).get("principal")
            if principal:
                names.add(str(principal))
    return names


def raw_datasets(ws: Workspace) -> list[str]:
    """Registered dataset names with no lineage parents, plus those matching ``[access] raw``.

    Read from CP1's tables: :mod:`cpmap.provenance.datasets` enforces this module's policy
    when it opens a dataset, so this module sits below it and does not import it.
    """
    from sqlalchemy import select

    from cpmap.provenance.tables import datasets, lineage

    policy = workspace_policy(ws)
    with ws.store.read() as conn:
        rows = conn.execute(select(datasets.c.name, datasets.c.digest)).all()
        derived = set(conn.execute(select(lineage.c.child).distinct()).scalars())
    return sorted({str(name) for name, digest in rows
                   if digest not in derived
                   or any(fnmatch.fnmatchcase(name, p) for p in policy.raw)})


def record_review(ws: Workspace, policy: Policy, findings: Sequence[Finding]) -> Entry:
    worst = max((f.severity.rank for f in findings), default=-1)
    verdict = (Verdict.FAIL if worst >= Severity.HIGH.rank else
               Verdict.WARN if findings else Verdict.PASS)
    lines = [f"{len(policy.principals)} principals, {len(policy.roles)} roles, "
             f"{len(findings)} over-broad or stale grants"]
    lines += [f.message for f in findings[:5]]
    review = AccessReview(verdict=verdict, findings=tuple(findings), highlights=tuple(lines),
                          principals=len(policy.principals), roles=len(policy.roles),
                          finding_count=len(findings))
    return record(Evidence.of(review, [Subject("access-policy", policy.digest())]), ws)
