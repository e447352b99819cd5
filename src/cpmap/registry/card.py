"""Model cards: what a version is for, what it was trained on, how it measures, with evidence.

Fields follow the Model Card Toolkit schema (``model_details``, ``model_parameters``,
``quantitative_analysis``, ``considerations``) with the Hugging Face card names for the prose
sections (intended use, limitations, out-of-scope use). The prose comes from the user's card
file; everything measured comes from verified evidence and the gate, never from the user.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.core.evidence import Evidence, Subject, Verdict, canonical_json, record
from cpmap.errors import InputError
from cpmap.redteam.predicates import RedteamCampaign
from cpmap.registry.predicates import ModelCard
from cpmap.robustness.predicates import RobustnessEvaluation

if TYPE_CHECKING:
    from cpmap.core.ledger import Entry
    from cpmap.core.workspace import Workspace
    from cpmap.gate.evaluate import GateResult
    from cpmap.registry.manifest import ModelVersion

SCHEMA = "https://cpmap.dev/model-card/v1"
PROSE = ("description", "intended_use", "limitations", "out_of_scope_use",
         "ethical_considerations", "caveats", "license", "owners", "references", "citation")
MAX_CARD_BYTES = 256 * 1024


def load_card_file(path: Path) -> dict[str, Any]:
    """The user's card: TOML or JSON with the prose fields (strings, or lists of strings)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read card file: {e.strerror}") from e
    if len(raw) > MAX_CARD_BYTES:
        raise InputError(f"{path}: card file larger than {MAX_CARD_BYTES} bytes")
    try:
        data = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: "
                         f"{e}") from e
    if not isinstance(data, dict):
        raise InputError(f"{path}: card file must hold a table of fields")
    unknown = sorted(set(data) - set(PROSE))
    if unknown:
        raise InputError(f"{path}: unknown card field(s) {', '.join(unknown)} "
                         f"(known: {', '.join(PROSE)})")
    for k, v in data.items():
        ok = isinstance(v, str) or (isinstance(v, list) and all(isinstance(i, str) for i in v))
        if not ok:
            raise InputError(f"{path}: card field {k!r} must be a string or a list of strings")
    return data


def filled(card_prose: Mapping[str, Any]) -> list[str]:
    return sorted(k for k, v in card_prose.items() if k in PROSE and v and
                  (not isinstance(v, str) or v.strip()))


def _metrics(result: GateResult) -> dict[str, Any]:
    out: dict[str, Any] = {"performance": [], "robustness": [], "membership_inference": None}
    cp4 = [(i, i.predicate) for i in result.control("CP4").evidence if i.verified
           and isinstance(i.predicate, RobustnessEvaluation) and i.predicate.results]
    if cp4:
        item, ev = cp4[-1]
        if ev.clean_accuracy is not None:
            out["performance"].append({"type": "accuracy", "value": ev.clean_accuracy,
                                       "slice": "clean", "evidence": item.index})
        out["robustness"] = [{"attack": r.attack, "eps": r.eps,
                              "robust_accuracy": r.robust_accuracy, "evidence": item.index}
                             for r in ev.results]
    cp5 = [(i, i.predicate) for i in result.control("CP5").evidence if i.verified
           and isinstance(i.predicate, RedteamCampaign)
           and i.predicate.membership_auc is not None]
    if cp5:
        item, camp = cp5[-1]
        out["membership_inference"] = {
            "auc": camp.membership_auc, "tpr_at_0.1pct_fpr": camp.membership_tpr_at_0_1pct_fpr,
            "tpr_at_1pct_fpr": camp.membership_tpr_at_1pct_fpr, "evidence": item.index}
    return out


def build_card(ws: Workspace, mv: ModelVersion, prose: Mapping[str, Any] | None = None,
               fairness: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Assemble the card of a version from its manifest, the user's prose and the evidence."""
    from cpmap.gate.evaluate import evaluate

    result = evaluate(ws, mv)
    text = {**dict(mv.card), **dict(prose or {})}
    status = {c.control: c.status for c in result.controls}
    training = [{"name": result.scope.name(d.digest), "digest": d.digest,
                 "cp1": status["CP1"], "cp2": status["CP2"]} for d in mv.lineage.datasets]
    record = dict(mv.lineage.training or {})
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    train = {**dict(config or {}), **record}
    quant = _metrics(result)
    quant["fairness"] = dict(fairness) if fairness else None
    return {
        "schema": SCHEMA,
        "model_details": {
            "name": mv.name, "version": mv.version, "digest": f"sha256:{mv.digest}",
            "formats": mv.artifact.formats, "bytes": mv.artifact.size,
            "created_at": mv.created_at, "description": text.get("description", ""),
            "owners": text.get("owners", []), "license": text.get("license", ""),
            "references": text.get("references", []), "citation": text.get("citation", ""),
            "code_commit": (mv.lineage.git or {}).get("commit"),
            "parent": mv.lineage.parent,
        },
        "model_parameters": {"training_data": training,
                             "architecture": train.get("arch") or train.get("architecture"),
                             "training": {k: train[k] for k in sorted(train)
                                          if k in {"epochs", "seed", "adversarial", "eps",
                                                   "steps", "dp_epsilon", "optimizer", "lr"}}},
        "intended_use": text.get("intended_use", ""),
        "out_of_scope_use": text.get("out_of_scope_use", ""),
        "limitations": text.get("limitations", ""),
        "considerations": {"ethical_considerations": text.get("ethical_considerations", ""),
                           "caveats": text.get("caveats", "")},
        "quantitative_analysis": quant,
        # The gate as the card sees it: every control but CP6, whose requirement is this card.
        "gate": {"passed": not any(c.blocking for c in result.controls if c.control != "CP6"),
                 "controls": {k: v for k, v in status.items() if k != "CP6"}},
        "evidence": sorted({i.index for c in result.controls for i in c.evidence}),
        "filled": filled(text),
    }


def required_fields(ws: Workspace) -> list[str]:
    """The card fields the gate's CP6 rule asks for (cpmap.toml, ``CPMAP_GATE_CP6_*``)."""
    from cpmap.gate.policy import load
    from cpmap.registry.control import CP6Rule

    rule = load(ws).rule("CP6")
    return list(rule.card_fields) if isinstance(rule, CP6Rule) else []


def record_card(ws: Workspace, mv: ModelVersion, card: Mapping[str, Any],
                required: list[str] | None = None) -> Entry:
    """Keep the card (content-addressed) and record CP6 ``model-card`` evidence about it."""
    body = canonical_json(dict(card))
    digest = hashlib.sha256(body).hexdigest()
    ws.put_object(body, digest)
    fields = list(card.get("filled") or [])
    missing = [f for f in (required or []) if f not in fields]
    fair = (card.get("quantitative_analysis") or {}).get("fairness") or {}
    metrics: dict[str, Any] = {"fields_filled": len(fields), "fields_missing": len(missing)}
    for k in ("demographic_parity_difference", "equalized_odds_difference"):
        if isinstance(fair.get(k), int | float):
            metrics[k] = fair[k]
    highlights = [f"card for {mv.ref}: {len(fields)} field(s) filled"
                  + (f", missing {', '.join(missing)}" if missing else "")]
    if fair:
        highlights.append(f"fairness on {fair.get('sensitive_attribute')}: demographic parity "
                          f"difference {fair.get('demographic_parity_difference')}, equalized "
                          f"odds difference {fair.get('equalized_odds_difference')}")
    pred = ModelCard.strict(Verdict.WARN if missing else Verdict.PASS, metrics, (), {
        "name": mv.name, "version": mv.version, "card_sha256": digest, "filled": fields,
        "missing": missing, "fairness": fair, "highlights": highlights})
    return record(Evidence.of(pred, [Subject(f"model:{mv.ref}", mv.digest),
                                     Subject(f"card:{mv.ref}", digest)]), ws)
