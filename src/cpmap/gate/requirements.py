"""Per-control requirements: what each control's evidence must show for a version to ship.

Each requirement reads only verified evidence about its part of the lineage scope and returns
reasons; a :class:`Reason` marked ``missing`` means the evidence needed to decide is absent,
which fails a required control as "no evidence" and never passes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cpmap.gate.evidence import Item
from cpmap.gate.scope import Scope

_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0, "none": 99}


@dataclass(frozen=True)
class Reason:
    text: str
    missing: bool = False


def no_evidence(text: str) -> Reason:
    return Reason(f"no evidence: {text}", True)


def latest(items: Iterable[Item], pred: Callable[[Item], bool]) -> Item | None:
    found = [i for i in items if pred(i)]
    return found[-1] if found else None


def latest_about(items: Iterable[Item], digest: str, pred: Callable[[Item], bool]
                 ) -> Item | None:
    """The latest item about ``digest`` that satisfies ``pred``."""
    found = [i for i in items if digest in i.subjects and pred(i)]
    return found[-1] if found else None


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def metric(item: Item, *names: str) -> float | None:
    """A scalar metric under any of ``names``, flat or one level nested (``a.b``)."""
    for name in names:
        head, _, tail = name.partition(".")
        value = item.metrics.get(name)
        if value is None and tail:
            inner = item.metrics.get(head) or item.details.get(head)
            value = inner.get(tail) if isinstance(inner, Mapping) else None
        if number(value) is not None:
            return number(value)
    return None


def at_or_above(findings: Iterable[Mapping[str, Any]], severity: str) -> list[Mapping[str, Any]]:
    floor = _RANK.get(severity, 99)
    return [f for f in findings if _RANK.get(str(f.get("severity", "info")), 0) >= floor]


def is_open(finding: Mapping[str, Any]) -> bool:
    props = finding.get("properties") or {}
    status = str(props.get("status", "open")) if isinstance(props, Mapping) else "open"
    return status not in {"remediated", "accepted", "closed", "fixed"}


# -- CP1 ----------------------------------------------------------------------------------------

_SIGNED_KINDS = {"data-signature", "data-verification"}


def cp1(items: Sequence[Item], scope: Scope, rule: Mapping[str, Any]) -> list[Reason]:
    if not scope.datasets:
        return [no_evidence("no training dataset in the model's lineage (register the model "
                            "with --dataset, or train it with `cpmap train`)")]
    reasons: list[Reason] = []
    for d in scope.datasets:
        reasons += _cp1_dataset(items, scope, d, rule)
    return reasons


def _cp1_dataset(items: Sequence[Item], scope: Scope, digest: str,
                 rule: Mapping[str, Any]) -> list[Reason]:
    name = scope.name(digest)
    chain = scope.ancestors(digest)
    mine = [i for i in items if i.about(chain)]
    if not any(i.kind == "dataset-registration" and i.about([digest]) for i in mine):
        return [no_evidence(f"training data {name} is not registered with CP1")]
    reasons: list[Reason] = []
    if not rule.get("allow_untrusted_sources"):
        reasons = [Reason(f"{scope.name(_first(i, chain))}: registered from an untrusted "
                          f"source (evidence #{i.index})") for i in mine
                   if i.kind == "dataset-registration" and (metric(i, "untrusted") or 0) > 0]
    for d in chain:
        access = latest_about(mine, d, lambda i: i.kind == "dataset-access")
        if access is not None and access.verdict == "fail":
            reasons.append(Reason(f"{scope.name(d)}: integrity check failed on last access "
                                  f"(evidence #{access.index})"))
    if rule.get("signed") and not any(_signed(i) for i in mine):
        reasons.append(Reason(f"{name}: neither it nor an ancestor carries a verified signature "
                              "(supplier attestation or `cpmap data sign`/`verify`)"))
    return reasons


def _first(item: Item, digests: Sequence[str]) -> str:
    return next((d for d in digests if d in item.subjects), digests[0])


def _signed(i: Item) -> bool:
    if i.verdict != "pass":
        return False
    return i.kind in _SIGNED_KINDS or (i.kind == "dataset-registration"
                                       and bool(i.details.get("supplier")))


# -- CP2 ----------------------------------------------------------------------------------------

def _pii_count(scan: Item) -> int:
    counted = [metric(scan, k) for k in ("pii_columns", "text_hits")]
    if any(c is not None for c in counted):
        return int(sum(c or 0 for c in counted))
    return len([f for f in scan.findings if str(f.get("severity")) != "info"])


def cp2(items: Sequence[Item], scope: Scope, rule: Mapping[str, Any]) -> list[Reason]:
    """Judged on the training data itself: a raw ancestor with PII is what redaction is for."""
    reasons = []
    for d in scope.datasets:
        name = scope.name(d)
        scan = latest_about(items, d, lambda i: i.kind == "pii-scan")
        if scan is not None and _pii_count(scan) > int(rule["max_pii_findings"]):
            reasons.append(Reason(f"{name}: {_pii_count(scan)} unredacted PII column(s)/hit(s) "
                                  f"(evidence #{scan.index}, at most "
                                  f"{rule['max_pii_findings']} allowed)"))
        red = latest(items, lambda i, d=d: i.kind == "pii-redaction"  # type: ignore[misc]
                     and next(iter(i.subjects), "") == d)
        left = metric(red, "rescan_direct_identifiers") if red is not None else None
        if red is not None and left:
            reasons.append(Reason(f"{name}: {left:g} direct identifier(s) left after redaction "
                                  f"(evidence #{red.index})"))
        anon = latest_about(items, d, lambda i: metric(i, "k", "k_anonymity") is not None)
        k = metric(anon, "k", "k_anonymity") if anon is not None else None
        if anon is not None and k is not None and k < float(rule["min_k"]):
            reasons.append(Reason(f"{name}: k-anonymity k={k:g} below {rule['min_k']} "
                                  f"(evidence #{anon.index})"))
    if not any(i.about(scope.datasets) for i in items):
        reasons.append(no_evidence("no CP2 privacy evidence about the training data"))
    return reasons


# -- CP3 ----------------------------------------------------------------------------------------

def cp3(items: Sequence[Item], scope: Scope, rule: Mapping[str, Any]) -> list[Reason]:
    if not items:
        return [no_evidence("no CP3 scan of this model's files or build environment")]
    reasons = []
    for kind in dict.fromkeys(i.kind for i in items):
        last = [i for i in items if i.kind == kind][-1]
        findings = list(last.findings)
        secrets = [f for f in findings if "secret" in kind or "SECRET" in str(f.get("rule_id"))]
        if len(secrets) > int(rule["max_secrets"]):
            reasons.append(Reason(f"{len(secrets)} secret(s) found by {kind} "
                                  f"(evidence #{last.index})"))
        severe = [f for f in at_or_above(findings, str(rule["fail_severity"]))
                  if f not in secrets]
        if severe:
            reasons.append(Reason(f"{len(severe)} finding(s) at or above "
                                  f"{rule['fail_severity']} in {kind} (evidence #{last.index}): "
                                  + "; ".join(str(f.get("message", ""))[:80] for f in severe[:3])))
    if rule.get("model_files"):
        reasons += _cp3_model_files(items, scope, str(rule["model_files"]))
    return reasons


def _file_verdict(item: Item) -> str | None:
    v = item.details.get("file_verdict") or item.details.get("verdict")
    if isinstance(v, str):
        return v
    files = item.details.get("files")
    if isinstance(files, list):
        worst = {"safe": 0, "suspicious": 1, "malicious": 2}
        seen = [str(f.get("verdict")) for f in files if isinstance(f, Mapping)]
        if seen:
            return max(seen, key=lambda s: worst.get(s, 1))
    return None


def _cp3_model_files(items: Sequence[Item], scope: Scope, wanted: str) -> list[Reason]:
    scan = latest(items, lambda i: i.about(scope.model) and "model" in i.kind)
    if scan is None:
        return [no_evidence("no model-file scan of this model's files (cpmap scan model)")]
    verdict = _file_verdict(scan) or ("safe" if scan.verdict == "pass" else scan.verdict)
    if wanted == "safe" and verdict != "safe":
        return [Reason(f"model files are {verdict}, not safe (evidence #{scan.index})")]
    return []


# -- CP4 ----------------------------------------------------------------------------------------

def robustness_results(item: Item) -> list[Mapping[str, Any]]:
    results = item.details.get("results") or item.metrics.get("results")
    return [r for r in results if isinstance(r, Mapping)] if isinstance(results, list) else []


def cp4(items: Sequence[Item], scope: Scope, rule: Mapping[str, Any]) -> list[Reason]:
    attack, eps = str(rule["attack"]), float(rule["eps"])

    def usable(r: Mapping[str, Any]) -> bool:
        e = number(r.get("eps"))
        return str(r.get("attack")) == attack and e is not None and e >= eps - 1e-12

    ev = latest(items, lambda i: any(usable(r) for r in robustness_results(i)))
    if ev is None:
        return [no_evidence(f"no {attack} robustness evaluation of this model at eps >= {eps:g} "
                            "(cpmap robustness evaluate)")]
    result = min((r for r in robustness_results(ev) if usable(r)),
                 key=lambda r: float(r["eps"]))
    reasons = []
    robust = number(result.get("robust_accuracy"))
    if robust is None or robust < float(rule["min_robust_accuracy"]):
        reasons.append(Reason(f"robust accuracy under {attack} at eps {float(result['eps']):g} "
                              f"is {robust if robust is not None else 'unknown'}, below "
                              f"{rule['min_robust_accuracy']} (evidence #{ev.index})"))
    clean = metric(ev, "clean_accuracy")
    if clean is not None and clean < float(rule["min_clean_accuracy"]):
        reasons.append(Reason(f"clean accuracy {clean:.4g} below {rule['min_clean_accuracy']} "
                              f"(evidence #{ev.index})"))
    return reasons


# -- CP5 ----------------------------------------------------------------------------------------

MIA_KEYS = ("membership_tpr_at_0.1pct_fpr", "membership.tpr_at_0.1pct_fpr", "tpr_at_0.1pct_fpr",
            "mia_tpr_at_0.1pct_fpr")


def cp5(items: Sequence[Item], scope: Scope, rule: Mapping[str, Any]) -> list[Reason]:
    if not items:
        return [no_evidence("no red-team campaign on this model (cpmap redteam run)")]
    reasons = []
    limit = float(rule["max_membership_tpr_at_0.1pct_fpr"])
    mia = latest(items, lambda i: metric(i, *MIA_KEYS) is not None)
    if mia is None:
        reasons.append(no_evidence("no membership-inference result for this model"))
    else:
        tpr = metric(mia, *MIA_KEYS)
        if tpr is not None and tpr > limit:
            reasons.append(Reason(f"membership-inference TPR at 0.1% FPR is {tpr:.4g}, above "
                                  f"{limit:g} (evidence #{mia.index})"))
    live = open_findings(items)
    severe = at_or_above([f for f, _ in live], str(rule["fail_severity"]))
    if severe:
        where = sorted({i for f, i in live if f in severe})
        reasons.append(Reason(f"{len(severe)} open finding(s) at or above "
                              f"{rule['fail_severity']} (evidence "
                              + ", ".join(f"#{i}" for i in where) + "): "
                              + "; ".join(str(f.get("rule_id")) for f in severe[:5])))
    return reasons


def _finding_key(f: Mapping[str, Any]) -> str:
    props = f.get("properties") or {}
    fid = props.get("id") if isinstance(props, Mapping) else None
    return str(fid or f"{f.get('rule_id')}:{f.get('message')}")


def open_findings(items: Sequence[Item]) -> list[tuple[Mapping[str, Any], int]]:
    """Findings still open across every campaign about the model, with the entry that last
    reported each: findings persist until a later campaign reports them remediated or a
    recorded acceptance (``redteam-acceptance``) accepts their risk."""
    status: dict[str, str] = {}
    last: dict[str, tuple[Mapping[str, Any], int]] = {}
    for i in items:
        if i.kind == "redteam-acceptance" and i.details.get("finding"):
            status[str(i.details["finding"])] = "accepted"
        for f in i.findings:
            key = _finding_key(f)
            status[key] = "open" if is_open(f) else "closed"
            last[key] = (f, i.index)
    return [last[k] for k, st in status.items() if st == "open" and k in last]


# -- CP6 ----------------------------------------------------------------------------------------

def cp6(items: Sequence[Item], scope: Scope, rule: Mapping[str, Any]) -> list[Reason]:
    reasons = []
    if latest(items, lambda i: i.kind == "registry-version") is None:
        reasons.append(no_evidence("the version's registration is not in the ledger"))
    card = latest(items, lambda i: i.kind == "model-card")
    if card is None:
        return [*reasons, no_evidence("no model card (cpmap registry card NAME@VERSION)")]
    filled = set(card.details.get("filled") or [])
    missing = [f for f in rule.get("card_fields", []) if f not in filled]
    if missing:
        reasons.append(Reason(f"model card lacks {', '.join(missing)} "
                              f"(evidence #{card.index})"))
    return reasons


def generic(items: Sequence[Item], scope: Scope, rule: Mapping[str, Any]) -> list[Reason]:
    return [] if items else [no_evidence("no evidence about this model")]


REQUIREMENTS: dict[str, Callable[[Sequence[Item], Scope, Mapping[str, Any]], list[Reason]]] = {
    "CP1": cp1, "CP2": cp2, "CP3": cp3, "CP4": cp4, "CP5": cp5, "CP6": cp6,
}
