"""Model cards in the CycloneDX 1.6 ML-BOM: the ``modelCard`` of a machine-learning-model
component.

cyclonedx-python-lib does not model ``modelCard`` yet, so the card is added to the serialized
JSON (:func:`embed`) and the result is validated against the CycloneDX 1.6 schema again. The
card comes from the version's latest recorded ``model-card`` evidence (its stored object, read
back by digest), so the BOM carries exactly the card that was signed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.registry.manifest import ModelVersion


def latest_card(ws: Workspace, mv: ModelVersion) -> dict[str, Any] | None:
    """The card last recorded for the version (verified against its digest), if any."""
    from cpmap.core.artifacts import load_object
    from cpmap.core.ledger import Ledger

    for entry in reversed(Ledger(ws).entries(digest=mv.digest, kind="model-card")):
        if entry.envelope.verified_by([ws.public_key]) is None:
            continue
        digest = str((entry.predicate.get("details") or {}).get("card_sha256", ""))
        data = load_object(ws, digest)
        if data is not None:
            card = json.loads(data)
            return card if isinstance(card, dict) else None
    return None


def _list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)] if isinstance(value, str) and value.strip() else []


def _metric(kind: str, value: Any, slice_: str) -> dict[str, str]:
    return {"type": kind, "value": f"{value:.6g}" if isinstance(value, float) else str(value),
            "slice": slice_}


def model_card(card: Mapping[str, Any]) -> dict[str, Any]:
    """Our card as a CycloneDX 1.6 ``modelCard`` object."""
    q = card.get("quantitative_analysis") or {}
    metrics = [_metric(str(p["type"]), p["value"], str(p.get("slice", "")))
               for p in q.get("performance") or []]
    metrics += [_metric("robust_accuracy", r["robust_accuracy"], f"{r['attack']} eps={r['eps']}")
                for r in q.get("robustness") or [] if r.get("robust_accuracy") is not None]
    mia = q.get("membership_inference") or {}
    if mia.get("tpr_at_0.1pct_fpr") is not None:
        metrics.append(_metric("membership_inference_tpr", mia["tpr_at_0.1pct_fpr"],
                               "fpr=0.001"))
    fair = q.get("fairness") or {}
    considerations: dict[str, Any] = {}
    for key, src in (("useCases", card.get("intended_use")),
                     ("technicalLimitations", card.get("limitations"))):
        if _list(src):
            considerations[key] = _list(src)
    ethics = _list((card.get("considerations") or {}).get("ethical_considerations"))
    if ethics:
        considerations["ethicalConsiderations"] = [{"name": e} for e in ethics]
    if fair:
        attr = str(fair.get("sensitive_attribute"))
        metrics += [_metric(k, fair[k], f"{attr} groups") for k in
                    ("demographic_parity_difference", "equalized_odds_difference") if k in fair]
        considerations["fairnessAssessments"] = [{
            "groupAtRisk": attr,
            "harms": f"demographic parity difference {fair.get('demographic_parity_difference')}"
                     f", equalized odds difference {fair.get('equalized_odds_difference')}"}]
    params: dict[str, Any] = {"approach": {"type": "supervised"}, "task": "classification"}
    arch = (card.get("model_parameters") or {}).get("architecture")
    if arch:
        params["architectureFamily"] = str(arch)
    data = [{"type": "dataset", "name": str(t["name"]), "contents": {
        "url": f"urn:sha256:{t['digest']}"}} for t in
        (card.get("model_parameters") or {}).get("training_data") or []]
    if data:
        params["datasets"] = data
    out: dict[str, Any] = {"modelParameters": params}
    if metrics:
        out["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    if considerations:
        out["considerations"] = considerations
    return out


def embed(bom_json: str, cards: Mapping[str, Mapping[str, Any]]) -> str:
    """Add ``modelCard`` to the components whose ``bom-ref`` is in ``cards``; re-validate."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    if not cards:
        return bom_json
    doc = json.loads(bom_json)
    for comp in doc.get("components") or []:
        card = cards.get(str(comp.get("bom-ref", "")))
        if card is not None:
            comp["modelCard"] = dict(card)
    text = json.dumps(doc, indent=2)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise InputError(f"model card does not fit the CycloneDX 1.6 schema: {error}")
    return text


def card_for(ws: Workspace, mv: ModelVersion) -> dict[str, Any] | None:
    """The CycloneDX ``modelCard`` of a registry version (None until a card is recorded)."""
    card = latest_card(ws, mv)
    return model_card(card) if card is not None else None
