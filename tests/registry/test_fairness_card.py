"""Fairness metrics against hand-computed values, and the model card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.core.workspace import Workspace
from cpmap.errors import InputError
from cpmap.registry import card_render
from cpmap.registry.card import build_card, load_card_file, record_card
from cpmap.registry.fairness import fairness
from cpmap.registry.versions import register


def test_fairness_matches_hand_computation() -> None:
    y_true = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    y_pred = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    groups = np.array(["a"] * 4 + ["b"] * 4)
    f = fairness(y_true, y_pred, groups, "g")
    # selection: a 3/4, b 1/4; TPR a 1.0, b 0.5; FPR a 0.5, b 0.0
    assert f.demographic_parity_difference == pytest.approx(0.5)
    assert f.equalized_odds_difference == pytest.approx(0.5)
    assert f.groups == {"a": 4, "b": 4}


def test_fair_predictions_score_zero() -> None:
    y = np.array([0, 1, 0, 1])
    f = fairness(y, y, np.array(["a", "a", "b", "b"]), "g")
    assert f.demographic_parity_difference == 0 and f.equalized_odds_difference == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.sampled_from("xyz")),
                min_size=2, max_size=60))
def test_fairness_bounds(rows: list[tuple[int, int, str]]) -> None:
    y_true, y_pred, groups = (np.array(c) for c in zip(*rows, strict=True))
    if len(set(groups.tolist())) < 2:
        with pytest.raises(InputError):
            fairness(y_true, y_pred, groups, "g")
        return
    f = fairness(y_true, y_pred, groups, "g")
    assert 0 <= f.demographic_parity_difference <= 1
    assert 0 <= f.equalized_odds_difference <= 1


def test_card_file_validation(tmp_path: Path) -> None:
    good = tmp_path / "card.toml"
    good.write_text('intended_use = "digits"\nlimitations = ["8x8 only"]\n')
    assert load_card_file(good)["limitations"] == ["8x8 only"]
    bad = tmp_path / "bad.toml"
    bad.write_text('intended_us = "typo"\n')
    with pytest.raises(InputError, match="unknown card field"):
        load_card_file(bad)
    (tmp_path / "c.json").write_text("[1]")
    with pytest.raises(InputError):
        load_card_file(tmp_path / "c.json")


def test_card_renders_and_is_recorded(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "m.bin").write_bytes(b"w")
    mv = register(ws, "clf", tmp_path / "m.bin", card={"intended_use": "tests"}).version
    card = build_card(ws, mv, {"limitations": "none known"})
    assert card["filled"] == ["intended_use", "limitations"]
    assert card["gate"]["passed"] is False
    md = card_render.markdown(card)
    assert md.startswith("---\nlicense:") and "## Limitations\n\nnone known" in md
    page = card_render.html(card)
    assert "<script" not in page and "none known" in page
    entry = record_card(ws, mv, card, ["intended_use", "limitations", "caveats"])
    pred = entry.predicate
    assert pred["verdict"] == "warn" and pred["details"]["missing"] == ["caveats"]
    json.dumps(card)


def test_fairness_for_a_table_model(ws: Workspace, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from cpmap.builtin import write_customers
    from cpmap.models.datasets import read_path
    from cpmap.models.persist import save_file

    csv = write_customers(tmp_path / "customers.csv", rows=400)
    data = read_path(csv, "customers", "0" * 64, "default")
    from sklearn.linear_model import LogisticRegression

    from cpmap.models.persist import wrap

    est = LogisticRegression(max_iter=200).fit(data.x, data.y)
    model = wrap(est, "test", kind="sklearn", meta=data.meta())
    path = tmp_path / "clf.skops"
    save_file(model, path)
    mv = register(ws, "credit", path, training={"meta": data.meta()}).version
    fair = card_render.fairness_for(ws, mv, csv, "gender")
    assert fair["sensitive_attribute"] == "gender"
    assert 0 <= fair["demographic_parity_difference"] <= 1
