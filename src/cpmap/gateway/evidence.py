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
from typing import Any

from cpmap.core.evidence import Evidence, Subject, Verdict
from cpmap.core.findings import Finding

KINDS = ("gateway-key", "gateway-serve", "gateway-budget", "gateway-predictions",
         "gateway-check")
ALERT_KINDS = ("gateway-alert",)


def _model(ref: str, digest: str) -> list[Subject]:
    return [Subject(f"model:{ref}", digest)]


def key_event(action: str, client: str, key_id: str, key_hash: str,
              settings: Mapping[str, Any]) -> Evidence:
    """An API key created or revoked (``action``); the subject is the key's keyed hash."""
    return Evidence("CP7", "gateway-key", [Subject(f"api-key:{client}/{key_id}", key_hash)],
                    Verdict.INFO, {"scopes": len(settings.get("scopes") or [])},
                    details={"action": action, "client": client, "key_id": key_id,
                             **dict(settings),
                             "highlights": [f"API key {key_id} for {client} {action}d"]})


def serve(ref: str, digest: str, gate_passed: bool, ungated: bool, reasons: Sequence[str],
          settings: Mapping[str, Any]) -> Evidence:
    """A version put in service: passed the gate, or served with the unsafe override."""
    verdict = Verdict.PASS if gate_passed else (Verdict.WARN if ungated else Verdict.FAIL)
    line = (f"serving {ref} (gate passed)" if gate_passed else
            f"serving {ref} WITHOUT a passing gate (--unsafe-allow-ungated)")
    return Evidence("CP7", "gateway-serve", _model(ref, digest), verdict,
                    {"gate_passed": gate_passed, "unsafe_allow_ungated": ungated},
                    details={"reasons": list(reasons), "settings": dict(settings),
                             "highlights": [line]})


def budget(ref: str, digest: str, queries: int, window: str, reason: str,
           output: str, source_entry: int | None) -> Evidence:
    """The per-client query budget and default output policy chosen for ``ref``, and why."""
    return Evidence("CP7", "gateway-budget", _model(ref, digest), Verdict.INFO,
                    {"budget_queries": queries, "budget_window": window},
                    details={"reason": reason, "default_output": output,
                             "cp5_entry": source_entry,
                             "highlights": [f"query budget {queries}/{window}: {reason}"]})


def predictions(ref: str, digest: str, root: str, count: int, first: str, last: str,
                refused: int) -> Evidence:
    """One batch of the prediction log: the RFC 6962 root over its entries' digests."""
    return Evidence("CP7", "gateway-predictions", _model(ref, digest), Verdict.INFO,
                    {"entries": count, "refused": refused},
                    details={"merkle_root": root, "first": first, "last": last,
                             "hash": "RFC 6962 SHA-256 over canonical JSON entries"})


def check(ref: str, digest: str, passed: bool, results: Sequence[Mapping[str, Any]],
          findings: Sequence[Finding], url: str) -> Evidence:
    """``cpmap gateway check``: every attack against a live gateway and what it answered."""
    failed = [r for r in results if not r.get("ok")]
    return Evidence("CP7", "gateway-check", _model(ref, digest),
                    Verdict.PASS if passed else Verdict.FAIL,
                    {"checks": len(results), "failed": len(failed)}, findings,
                    details={"url": url, "results": [dict(r) for r in results],
                             "highlights": [f"gateway check: {len(results) - len(failed)}/"
                                            f"{len(results)} attacks refused as expected"]})


def alert(ref: str, digest: str, what: str, message: str,
          details: Mapping[str, Any] | None = None) -> Evidence:
    """A CP8 alert raised by the gateway (budget spent, limiter failing open)."""
    return Evidence("CP8", "gateway-alert", _model(ref, digest), Verdict.WARN, {"alerts": 1},
                    details={"alert": what, "message": message, **dict(details or {})})
