"""Every piece of evidence the gateway records, one function per kind.

CP7 kinds: ``gateway-key`` (an API key created or revoked), ``gateway-serve`` (a version put in
service, with the gate's verdict or the unsafe override), ``gateway-budget`` (the query budget
chosen for a version, and why), ``gateway-predictions`` (a Merkle batch root over prediction
log entries), ``gateway-check`` (an attack run against a live gateway). ``gateway-alert`` is
CP8's: a spent query budget, or a limiter that failed open. No function here takes a secret:
keys appear only as their keyed hash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cpmap.core.evidence import Evidence, Subject, Verdict
from cpmap.core.findings import Finding
from cpmap.gateway.predicates import (
    GatewayAlert,
    GatewayBudget,
    GatewayCheck,
    GatewayKey,
    GatewayPredictions,
    GatewayServe,
)


def _model(ref: str, digest: str) -> list[Subject]:
    return [Subject(f"model:{ref}", digest)]


def key_event(action: str, client: str, key_id: str, key_hash: str,
              settings: Mapping[str, Any]) -> Evidence:
    """An API key created or revoked (``action``); the subject is the key's keyed hash."""
    scopes = tuple(str(s) for s in settings.get("scopes") or ())
    event = GatewayKey(
        verdict=Verdict.INFO, scope_count=len(scopes), action=action, client=client,
        key_id=key_id, scopes=scopes, rate=str(settings.get("rate", "")),
        budget=str(settings.get("budget", "")), output=str(settings.get("output", "")),
        created_at=settings.get("created_at"), revoked_at=settings.get("revoked_at"),
        highlights=(f"API key {key_id} for {client} {action}d",))
    return Evidence.of(event, [Subject(f"api-key:{client}/{key_id}", key_hash)])


def serve(ref: str, digest: str, gate_passed: bool, ungated: bool, reasons: Sequence[str],
          settings: Mapping[str, Any]) -> Evidence:
    """A version put in service: passed the gate, or served with the unsafe override."""
    verdict = Verdict.PASS if gate_passed else (Verdict.WARN if ungated else Verdict.FAIL)
    line = (f"serving {ref} (gate passed)" if gate_passed else
            f"serving {ref} WITHOUT a passing gate (--unsafe-allow-ungated)")
    served = GatewayServe(verdict=verdict, gate_passed=gate_passed, unsafe_allow_ungated=ungated,
                          reasons=tuple(reasons), settings=dict(settings),
                          highlights=(line, configuration(settings)))
    return Evidence.of(served, _model(ref, digest))


def configuration(s: Mapping[str, Any]) -> str:
    """The gateway's settings in one line, for the report."""
    def get(k: str) -> Any:
        return s.get(k, "?")
    return (f"limits in {get('limits_backend')} (global {get('global_rate')}, client default "
            f"{get('default_rate')}, failed auth {get('auth_fail_rate')}); body <= "
            f"{get('max_body_bytes')} B, batch <= {get('max_batch')}, range margin "
            f"{get('range_margin')}, timeout {get('timeout_s')} s, concurrency "
            f"{get('max_concurrency')}; images {', '.join(s.get('image_formats') or [])}; "
            f"default output {get('default_output')}; JWT {'on' if s.get('jwt_jwks') else 'off'}")


def budget(ref: str, digest: str, queries: int, window: str, reason: str,
           output: str, source_entry: int | None) -> Evidence:
    """The per-client query budget and default output policy chosen for ``ref``, and why."""
    chosen = GatewayBudget(verdict=Verdict.INFO, budget_queries=queries, budget_window=window,
                           reason=reason, default_output=output, cp5_entry=source_entry,
                           highlights=(f"query budget {queries}/{window}: {reason}",))
    return Evidence.of(chosen, _model(ref, digest))


@dataclass(frozen=True)
class Traffic:
    """What a gateway process has answered so far (the report's CP7 counts)."""

    requests: int = 0
    refused: int = 0
    rows: int = 0
    refusals: Mapping[str, int] = field(default_factory=dict)
    started: str = ""

    def line(self) -> str:
        top = sorted(self.refusals.items(), key=lambda kv: (-kv[1], kv[0]))[:6]
        why = "; ".join(f"{k}: {v}" for k, v in top)
        return (f"traffic since {self.started}: {self.requests} infer request(s), "
                f"{self.requests - self.refused} answered ({self.rows} rows), {self.refused} "
                f"refused" + (f" ({why})" if why else ""))


def predictions(ref: str, digest: str, root: str, count: int, first: str, last: str,
                refused: int, traffic: Traffic | None = None) -> Evidence:
    """One batch of the prediction log: the RFC 6962 root over its entries' digests, with the
    process's traffic so far."""
    t = traffic or Traffic(count, refused)
    batch = GatewayPredictions(verdict=Verdict.INFO, entries=count, refused=refused,
                               merkle_root=root, first=first, last=last,
                               hash="RFC 6962 SHA-256 over canonical JSON entries",
                               requests_total=t.requests, refused_total=t.refused,
                               rows_total=t.rows, refusals=dict(t.refusals), started=t.started,
                               highlights=(t.line(),))
    return Evidence.of(batch, _model(ref, digest))


def check(ref: str, digest: str, passed: bool, results: Sequence[Mapping[str, Any]],
          findings: Sequence[Finding], url: str) -> Evidence:
    """``cpmap gateway check``: every attack against a live gateway and what it answered."""
    failed = [r for r in results if not r.get("ok")]
    attacked = GatewayCheck(
        verdict=Verdict.PASS if passed else Verdict.FAIL, findings=tuple(findings),
        checks=len(results), failed=len(failed), url=url,
        results=tuple(dict(r) for r in results),
        highlights=(f"gateway check: {len(results) - len(failed)}/{len(results)} attacks "
                    "refused as expected",))
    return Evidence.of(attacked, _model(ref, digest))


def alert(ref: str, digest: str, what: str, message: str,
          details: Mapping[str, Any] | None = None) -> Evidence:
    """A CP8 alert raised by the gateway (budget spent, limiter failing open)."""
    extra = dict(details or {})
    raised = GatewayAlert(verdict=Verdict.WARN, alert=what, message=message,
                          client=extra.pop("client", None), window=extra.pop("window", None),
                          info=extra, highlights=(message,))
    return Evidence.of(raised, _model(ref, digest))
