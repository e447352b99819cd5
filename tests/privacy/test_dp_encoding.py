"""DP inputs are mapped record by record: no value's encoding depends on the other rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpmap.core.workspace import Workspace
from cpmap.privacy import dp
from cpmap.privacy.records import OTHER, categorize, load_text, numbers
from cpmap.provenance.datasets import register_dataset

Cli = Callable[..., tuple[int, str, str]]

cells = st.one_of(st.none(), st.integers(-5, 5), st.floats(allow_nan=True),
                  st.sampled_from(["1", "1.0", " 2 ", "", "x", "2.5", "nan", "F"]), st.text())


@given(st.lists(cells, max_size=30), st.lists(st.sampled_from(["0", "1", "2", "F", "x"]),
                                              min_size=1, max_size=4, unique=True))
def test_each_cell_is_mapped_on_its_own(values: list[object], cats: list[str]) -> None:
    cat = tuple(cats)
    together = categorize(values, cat)
    assert together == [categorize([v], cat)[0] for v in values]
    assert set(together) <= {*cat, OTHER}
    assert numbers(values) == [numbers([v])[0] for v in values]


def test_numeric_categories_match_numerically() -> None:
    assert categorize(["1", "1.0", 1, 1.0, " 1 ", "01", "", None, float("nan"), "2.5"],
                      ("0", "1")) == ["1"] * 6 + [OTHER] * 4


@pytest.mark.parametrize("odd", ["", "2.5"])
def test_one_odd_cell_does_not_move_every_record(ws: Workspace, cli: Cli, tmp_path: Path,
                                                 odd: str) -> None:
    """pandas read the column as float: every ``1`` became ``1.0`` and fell in __other__."""
    pytest.importorskip("opendp")
    path = tmp_path / "grades.csv"
    path.write_text("grade,id\n" + "1,a\n" * 300 + "0,b\n" * 100 + f"{odd},c\n")
    register_dataset(ws, "grades", path)
    code, out, err = cli("privacy", "dp-query", str(path), "--query", "histogram(grade)",
                         "--categories", "0,1", "--epsilon", "5", "-f", "json")
    assert code == 0, err
    value = json.loads(out)["value"]
    assert abs(value["1"] - 300) < 15 and abs(value["0"] - 100) < 15
    assert value["__other__"] < 15


def test_a_non_numeric_column_is_imputed_not_refused(ws: Workspace) -> None:
    """A refusal would tell whether the column holds any number: an unbudgeted bit."""
    pytest.importorskip("opendp")
    frame = pd.DataFrame({"name": ["Ann", "Bob", "Cy"] * 100, "age": [30, None, 50] * 100})
    rel = dp.release(ws, frame, "people", dp.parse_query("mean(name)", "18,90"), 1.0)
    assert rel.value == pytest.approx(18, abs=5)  # every cell imputed at 0, clamped to 18
    assert dp.release(ws, frame, "people", dp.parse_query("sum(age)", "0,100"), 1.0).remaining \
        == pytest.approx(8.0)


def test_load_text_keeps_each_cell_as_written(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x\n,40.5\n2,\n")
    frame = load_text(path)
    assert frame["a"].tolist() == ["1", "", "2"] and frame["b"].tolist() == ["x", "40.5", ""]


def _fit_types(tmp_path: Path, extra: str) -> tuple[object, ...]:
    from cpmap.privacy.synth import fit, sample

    path = tmp_path / f"s{len(extra)}.csv"
    path.write_text("age,grade\n" + "".join(f"{20 + i % 50},{1 + i % 3}\n" for i in range(200))
                    + extra)
    model = fit(load_text(path), epsilon=4.0, bounds={"age": (18.0, 90.0)},
                categories={"grade": ("1", "2", "3")}, integers=frozenset({"age"}))
    out = sample(model, 300, seed=1)
    grade = model.marginals[1]
    return (str(out["age"].dtype), tuple(type(v).__name__ for v in grade.levels),
            tuple(grade.grid.round(1)))


def test_synthesizer_types_come_from_the_public_schema(tmp_path: Path) -> None:
    """One 40.5 age or one 2.5 grade used to change the output type or collapse a marginal."""
    pytest.importorskip("opendp")
    base = _fit_types(tmp_path, "")
    odd = _fit_types(tmp_path, "40.5,2.5\n")
    assert base[0] == odd[0] == "int64"
    assert base[1] == odd[1] == ("str", "str", "str")
    assert odd[2][-1] == 1.0 and 0.2 < odd[2][0] < 0.45  # grade 1 keeps about a third


def test_synthesizer_missing_cells_never_crash(tmp_path: Path) -> None:
    pytest.importorskip("opendp")
    from cpmap.privacy.synth import fit, sample

    path = tmp_path / "m.csv"
    path.write_text("age,g\n" + ",\n" * 50 + "30,F\n" * 50)
    model = fit(load_text(path), epsilon=2.0, bounds={"age": (18.0, 90.0)},
                categories={"g": ("F", "M")})
    assert len(sample(model, 20)) == 20
