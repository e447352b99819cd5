"""The model card inside the CycloneDX 1.6 ML-BOM (``modelCard``), schema-validated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpmap.core.workspace import Workspace
from cpmap.registry.bom import embed, model_card
from cpmap.registry.card import build_card, record_card
from cpmap.registry.versions import register


def test_registry_card_is_embedded_in_the_ml_bom(ws: Workspace, tmp_path: Path) -> None:
    pytest.importorskip("cyclonedx")
    from cpmap.supplychain import sbom
    from cpmap.supplychain.bomsources import workspace_models

    (tmp_path / "m.bin").write_bytes(b"w")
    mv = register(ws, "clf", tmp_path / "m.bin",
                  card={"intended_use": "tests", "limitations": ["none"]}).version
    assert workspace_models(ws, ["clf@1"])[0].card is None  # no card recorded yet
    card = build_card(ws, mv, fairness={
        "sensitive_attribute": "gender", "groups": {"f": 3, "m": 3}, "positive_class": "1",
        "demographic_parity_difference": 0.25, "equalized_odds_difference": 0.5})
    record_card(ws, mv, card)
    result = sbom.generate("proj", [], [], workspace_models(ws, ["clf@1"]))
    comp = next(c for c in json.loads(result.text)["components"]
                if c.get("type") == "machine-learning-model")
    mc = comp["modelCard"]
    assert mc["considerations"]["useCases"] == ["tests"]
    assert mc["considerations"]["fairnessAssessments"][0]["groupAtRisk"] == "gender"
    kinds = {m["type"] for m in mc["quantitativeAnalysis"]["performanceMetrics"]}
    assert {"demographic_parity_difference", "equalized_odds_difference"} <= kinds


def test_embed_rejects_cards_outside_the_schema() -> None:
    pytest.importorskip("cyclonedx")
    from cpmap.errors import InputError

    bom = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
                      "components": [{"type": "machine-learning-model", "name": "m",
                                      "bom-ref": "model:x"}]})
    assert "modelCard" in embed(bom, {"model:x": model_card({"intended_use": "x"})})
    with pytest.raises(InputError, match="CycloneDX 1.6"):
        embed(bom, {"model:x": {"modelParameters": {"approach": {"type": "telepathy"}}}})
