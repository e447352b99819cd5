"""A dataset's schema (image shape, model columns, label) comes from the built-in it was made
from, recorded at registration, never from what the dataset is called."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cpmap.builtin import write_customers, write_digits
from cpmap.errors import InputError
from cpmap.models import load_dataset
from cpmap.models.datasets import CUSTOMER_FEATURES, schema_of_source
from cpmap.provenance.datasets import register_dataset


def test_builtin_sources_carry_their_schema_and_others_none() -> None:
    assert schema_of_source("builtin:digits").image_shape == (1, 8, 8)
    customers = schema_of_source("builtin:customers")
    assert customers.label == "default" and customers.features == CUSTOMER_FEATURES
    assert schema_of_source("file:///data/digits.npz") == schema_of_source("builtin:other")


def test_digits_registered_from_the_builtin_source_are_images(ws: Any, tmp_path: Path) -> None:
    path = write_digits(tmp_path / "d" / "digits.npz")
    dv = register_dataset(ws, "handwriting", path.parent, source="builtin:digits")
    ds = load_dataset(dv.ref, ws)
    assert ds.image_shape == (1, 8, 8) and ds.meta()["image_shape"] == [1, 8, 8]


def test_a_dataset_called_digits_is_not_an_image_set_by_its_name(
        ws: Any, tmp_path: Path) -> None:
    dv = register_dataset(ws, "digits", write_digits(tmp_path / "digits.npz"))
    ds = load_dataset(dv.ref, ws)
    assert ds.x.shape == (1797, 64) and ds.image_shape is None


def test_a_table_called_customers_keeps_its_own_columns(ws: Any, tmp_path: Path) -> None:
    path = write_customers(tmp_path / "customers.csv", rows=300)
    dv = register_dataset(ws, "customers", path)
    with pytest.raises(InputError, match="--label"):  # no built-in default label either
        load_dataset(dv.ref, ws)
    own = load_dataset(dv.ref, ws, label="default")
    assert "zip" in own.feature_names
    builtin = register_dataset(ws, "loans", path, source="builtin:customers")
    schema = load_dataset(builtin.ref, ws)
    assert schema.preprocess["label"] == "default"
    assert set(schema.feature_names) == {"age", "income", "loan_amount", "credit_score",
                                         "gender=F", "gender=M", "gender=X"}
