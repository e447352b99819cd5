"""Aliases, gated promotion and one-command rollback.

``production`` (or any stage) is an alias that only :func:`promote` and :func:`rollback` move.
Promotion runs the gate first and refuses, with the gate's reasons, when it fails. Rollback
moves the stage back to the version approved before the current one, skipping versions that
were rolled back from. Every move is a CP6 ledger entry committed with the alias row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.ledger import Ledger
from cpmap.core.refs import ALIAS_RE
from cpmap.errors import Error, InputError
from cpmap.registry.predicates import AliasSet, Promotion, PromotionRefused, Rollback
from cpmap.registry.signed_aliases import current_in, signed_moves
from cpmap.registry.tables import model_aliases, model_events
from cpmap.registry.versions import aliases, get

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from cpmap.core.workspace import Workspace
    from cpmap.gate.evaluate import GateResult
    from cpmap.registry.manifest import ModelVersion

STAGES = ("production", "staging")
RESERVED = {"latest", *STAGES}


class GateFailed(Error):
    """A promotion the gate refused (exit 1, with the reasons)."""

    exit_code = 1


@dataclass(frozen=True)
class Move:
    name: str
    alias: str
    version: int
    previous: int | None
    entry: int

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.name, "alias": self.alias, "version": self.version,
                "previous": self.previous, "ledger_entry": self.entry}


def _check_alias(alias: str, stage_ok: bool = False) -> str:
    if not ALIAS_RE.fullmatch(alias) or alias.isdigit():
        raise InputError(f"alias {alias!r}: use lowercase letters, digits, '_' and '-', "
                         "starting with a letter")
    if alias in RESERVED and not stage_ok:
        raise InputError(f"alias {alias!r} is reserved: use `cpmap registry promote` "
                         "for stages" if alias in STAGES else f"alias {alias!r} is reserved")
    return alias


def _set(conn: Connection, name: str, alias: str, version: int, entry: Any) -> None:
    """The alias row for the signed move ``entry`` (its index and its signed time)."""
    conn.execute(delete(model_aliases).where(model_aliases.c.name == name,
                                             model_aliases.c.alias == alias))
    conn.execute(insert(model_aliases).values(name=name, alias=alias, version=version,
                                              updated_at=entry.created_at, entry=entry.index))


def _current(ws: Workspace, conn: Connection, name: str, alias: str) -> int | None:
    """Where ``alias`` points now, as the signed moves say (the row is checked against them)."""
    return current_in(ws, conn, name).get((name, alias))


def _move(ws: Workspace, mv: ModelVersion, alias: str, move: AliasSet | Promotion | Rollback,
          action: str | None = None) -> Move:
    with ws.store.write() as conn:
        previous = _current(ws, conn, mv.name, alias)
        ev = Evidence.of(replace(move, previous=previous), [Subject(f"model:{mv.ref}", mv.digest)])
        entry = record(ev, ws, conn=conn)
        _set(conn, mv.name, alias, mv.version, entry)
        if action is not None:
            conn.execute(insert(model_events).values(
                name=mv.name, stage=alias, action=action, version=mv.version,
                from_version=previous, created_at=entry.created_at, entry=entry.index))
    Ledger(ws).witness(entry)
    return Move(mv.name, alias, mv.version, previous, entry.index)


def set_alias(ws: Workspace, ref: str, alias: str) -> Move:
    """Point ``alias`` at a version (e.g. ``candidate``)."""
    _check_alias(alias)
    mv = get(ws, ref)
    ev = AliasSet(verdict=Verdict.INFO, name=mv.name, version=mv.version, alias=alias,
                  highlights=(f"alias {mv.name}@{alias} -> {mv.ref}",))
    return _move(ws, mv, alias, ev)


def promote(ws: Workspace, ref: str, stage: str = "production") -> tuple[Move, GateResult]:
    """Run the gate; move ``stage`` to the version only if it passes (else :class:`GateFailed`)."""
    from cpmap.gate.evaluate import evaluate
    from cpmap.gate.policy import load as load_policy

    _check_alias(stage, stage_ok=True)
    if stage not in STAGES:
        raise InputError(f"stage {stage!r}: one of {', '.join(STAGES)}")
    mv = get(ws, ref)
    policy = load_policy(ws)
    result = evaluate(ws, mv, policy, stage=stage)
    summary = {c.control: c.status for c in result.controls}
    signed_policy = policy_evidence(policy.to_dict())
    subject = [Subject(f"model:{mv.ref}", mv.digest)]
    if not result.passed:
        reasons = [f"{c.control} {c.status}: {'; '.join(c.reasons)}" for c in result.failing()]
        refused = PromotionRefused(
            verdict=Verdict.INFO, version_number=mv.version, name=mv.name, version=mv.version,
            stage=stage, gate=summary, reasons=tuple(reasons), **signed_policy,
            highlights=(f"promotion of {mv.ref} to {stage} refused: "
                        + ", ".join(c.control for c in result.failing()),
                        _policy_line(signed_policy)))
        record(Evidence.of(refused, subject), ws)
        raise GateFailed(f"{mv.ref}: not promoted to {stage}, the gate failed: "
                         + " | ".join(reasons))
    ev = Promotion(verdict=Verdict.PASS, version_number=mv.version, name=mv.name,
                   version=mv.version, stage=stage, gate=summary, **signed_policy,
                   highlights=(f"{mv.ref} promoted to {stage} (gate passed)",
                               _policy_line(signed_policy)))
    return _move(ws, mv, stage, ev, action="promote"), result


def policy_evidence(effective: dict[str, Any]) -> dict[str, Any]:
    """The effective gate policy as promotion evidence records it: the whole policy, its
    SHA-256 (canonical JSON) and the settings that differ from the defaults, so that an
    override in cpmap.toml or a CPMAP_* variable is visible to an auditor."""
    from cpmap.core.evidence import canonical_json
    from cpmap.gate.policy import from_config

    defaults = from_config(None).to_dict()
    overrides = {f"{c}.{k}": v for c, rule in effective.items() for k, v in rule.items()
                 if defaults.get(c, {}).get(k) != v}
    return {"policy": effective, "policy_sha256": hashlib.sha256(
        canonical_json(effective)).hexdigest(), "policy_overrides": overrides}


def _policy_line(p: dict[str, Any]) -> str:
    changed = ", ".join(f"{k}={v}" for k, v in sorted(p["policy_overrides"].items()))
    return (f"gate policy sha256:{p['policy_sha256'][:16]}: "
            + (f"overrides {changed}" if changed else "the defaults"))


def history(ws: Workspace, name: str, stage: str = "production") -> list[dict[str, Any]]:
    """Promotions and rollbacks of ``stage``, folded from the signed ledger entries (the
    ``model_events`` rows are a cache: an inserted "promote" row would otherwise make a
    rollback land on an ungated version)."""
    from cpmap.core.verified import SignedLog

    moves = [m for m in signed_moves(SignedLog.load(ws), name)
             if m.alias == stage and m.action in ("promote", "rollback")]
    return [{"seq": i + 1, "action": m.action, "version": m.version,
             "from_version": m.previous, "created_at": str(m.entry.predicate.get("timestamp", "")),
             "ledger_entry": m.entry.index} for i, m in enumerate(moves)]


def rollback_target(events: list[dict[str, Any]], current: int) -> int | None:
    """The version approved before ``current``, skipping versions rolled back from."""
    revoked = {e["from_version"] for e in events if e["action"] == "rollback"}
    revoked.add(current)
    approved = [e["version"] for e in events if e["action"] == "promote"]
    # Start below the latest approval of the current version.
    idx = max((i for i, v in enumerate(approved) if v == current), default=len(approved))
    for v in reversed(approved[:idx]):
        if v not in revoked:
            return int(v)
    return None


def rollback(ws: Workspace, name: str, stage: str = "production") -> Move:
    """Move ``stage`` back to the previously approved version."""
    if stage not in STAGES:
        raise InputError(f"stage {stage!r}: one of {', '.join(STAGES)}")
    current = aliases(ws, name).get(stage)
    if current is None:
        raise InputError(f"model {name!r}: nothing in {stage} to roll back",
                         hint=f"cpmap registry promote {name}@VERSION")
    target = rollback_target(history(ws, name, stage), current)
    if target is None:
        raise InputError(f"model {name!r}: no earlier approved version to roll back to "
                         f"from {name}@{current}")
    mv = get(ws, f"{name}@{target}")  # verifies the manifest
    ev = Rollback(verdict=Verdict.INFO, version_number=mv.version,
                  from_version_number=current, name=name, version=mv.version, stage=stage,
                  from_version=current,
                  highlights=(f"{stage} rolled back from {name}@{current} to {mv.ref}",))
    return _move(ws, mv, stage, ev, action="rollback")
