"""Datasets by reference: builtins, files, registered names; all linked by digest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cpmap.errors import InputError
from cpmap.models import load_dataset


def test_builtin_digits_is_registered_and_opened_through_cp1(ws: Any) -> None:
    from cpmap.core.ledger import Ledger
    from cpmap.provenance.datasets import get_dataset

    ds = load_dataset("builtin:digits", ws)
    assert ds.x.shape == (1797, 64) and ds.x.dtype == np.float32
    assert ds.image_shape == (1, 8, 8) and ds.n_classes == 10
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    assert get_dataset(ws, ds.ref).digest == ds.digest
    assert Ledger(ws).entries(kind="dataset-access", digest=ds.digest)
    again = load_dataset("builtin:digits", ws)
    assert again.ref == ds.ref and again.digest == ds.digest


def test_customers_use_numbers_and_gender_never_identifiers(ws: Any) -> None:
    ds = load_dataset("builtin:customers", ws)
    assert ds.classes == ("0", "1")
    assert set(ds.feature_names) == {"age", "income", "loan_amount", "credit_score",
                                     "gender=F", "gender=M", "gender=X"}
    assert float(ds.x.min()) >= 0.0 and float(ds.x.max()) <= 1.0


def test_csv_with_label_drops_text_and_identifier_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 80
    frame = pd.DataFrame({"id": np.arange(1000, 1000 + n), "email": [f"u{i}@x.org"
                                                                       for i in range(n)],
                          "size": rng.random(n) * 10, "color": rng.choice(["r", "g"], n),
                          "label": rng.choice(["cat", "dog"], n)})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    ds = load_dataset(str(path), label="label")
    assert ds.feature_names == ("size", "color=g", "color=r")
    assert ds.classes == ("cat", "dog")
    assert ds.preprocess["dropped"] == ["id", "email"]
    with pytest.raises(InputError, match="--label"):
        load_dataset(str(path))
    with pytest.raises(InputError, match="no label column 'nope'"):
        load_dataset(str(path), label="nope")


def test_a_model_preprocessing_and_class_order_are_reused(tmp_path: Path) -> None:
    train = pd.DataFrame({"v": [0.0, 10.0, 5.0, 2.0], "y": ["b", "a", "b", "a"]})
    new = pd.DataFrame({"v": [20.0, 5.0], "y": ["b", "b"]})
    train.to_parquet(tmp_path / "train.parquet")
    new.to_parquet(tmp_path / "new.parquet")
    ds = load_dataset(str(tmp_path / "train.parquet"), label="y")
    like = ds.meta()
    like["classes"] = ["b", "a"]
    other = load_dataset(str(tmp_path / "new.parquet"), like=like)
    np.testing.assert_allclose(other.x[:, 0], [1.0, 0.5])  # scaled with train's min/max
    assert list(other.y) == [0, 0] and other.classes == ("b", "a")


def test_npz_and_image_folders(tmp_path: Path) -> None:
    from PIL import Image

    np.savez(tmp_path / "d.npz", x=np.ones((6, 2, 2)), y=np.array([0, 1, 0, 1, 0, 1]))
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.x.shape == (6, 4)
    for cls in ("a", "b"):
        (tmp_path / "img" / cls).mkdir(parents=True)
        for i in range(2):
            Image.new("L", (4, 3), color=60 * i).save(tmp_path / "img" / cls / f"{i}.png")
    im = load_dataset(str(tmp_path / "img"))
    assert im.x.shape == (4, 12) and im.image_shape == (1, 3, 4)
    assert im.classes == ("a", "b")


def test_bad_dataset_inputs_are_named(tmp_path: Path) -> None:
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="x.npz"):
        load_dataset(str(tmp_path / "x.npz"))
    np.savez(tmp_path / "one.npz", x=np.ones((3, 2)), y=np.zeros(3))
    with pytest.raises(InputError, match="two classes"):
        load_dataset(str(tmp_path / "one.npz"))
    with pytest.raises(InputError, match="nope"):
        load_dataset("nope")


def test_npz_label_that_is_not_an_array_is_named(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.ones((4, 2)), y=np.array([0, 1, 0, 1]))
    with pytest.raises(InputError, match="no label array 'foo'"):
        load_dataset(str(tmp_path / "d.npz"), label="foo")


def test_split_is_seeded_and_stratified(ws: Any) -> None:
    ds = load_dataset("builtin:digits", ws)
    a_train, a_test = ds.split(0.25, 3)
    b_train, b_test = ds.split(0.25, 3)
    np.testing.assert_array_equal(a_test.x, b_test.x)
    assert len(a_train.y) + len(a_test.y) == len(ds.y)
    counts = np.bincount(a_test.y, minlength=10)
    assert counts.min() >= 40 and counts.max() <= 50


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04truncated"])
def test_unreadable_npz_is_an_input_error_and_is_not_registered(
        ws: Any, tmp_path: Path, content: bytes) -> None:
    from cpmap.core.ledger import Ledger

    bad = tmp_path / "bad file.npz"
    bad.write_bytes(content)
    before = len(Ledger(ws).entries())
    with pytest.raises(InputError, match="bad file.npz"):
        load_dataset(str(bad), ws)
    assert len(Ledger(ws).entries()) == before


def test_scalar_npz_arrays_are_an_input_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "s.npz", x=np.float32(1), y=np.int64(1))
    with pytest.raises(InputError, match="scalars"):
        load_dataset(str(tmp_path / "s.npz"))


def test_infinite_and_empty_numeric_values_do_not_become_the_scale(tmp_path: Path) -> None:
    import math
    import warnings

    n = 60
    size = [float("inf") if i % 5 == 0 else float(i) for i in range(n)]
    frame = pd.DataFrame({"size": size, "empty": [float("nan")] * n,
                          "label": ["a", "b"] * (n // 2)})
    frame.to_csv(tmp_path / "t.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ds = load_dataset(str(tmp_path / "t.csv"), label="label")
    (col,) = ds.preprocess["columns"]
    assert col["name"] == "size" and math.isfinite(col["max"]) and col["max"] == n - 1
    assert ds.preprocess["dropped"] == ["empty"]
    assert np.isfinite(ds.x).all() and ds.x[1:5, 0].max() > 0


def test_image_class_folder_without_images_is_an_input_error(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "img" / "a").mkdir(parents=True)
    (tmp_path / "img" / "b b").mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "img" / "a" / "0.png")
    (tmp_path / "img" / "b b" / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match="without images: b b"):
        load_dataset(str(tmp_path / "img"))


def test_a_missing_path_is_named_as_a_missing_file(ws: Any, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no such\.npz: no such file"):
        load_dataset(str(tmp_path / "no such.npz"), ws)
