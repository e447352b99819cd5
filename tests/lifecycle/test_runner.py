"""The runner: stage selection by control id, artifacts handed on, missing ones reported."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace
from cpmap.errors import InputError
from cpmap.lifecycle import STAGES, Artifacts, Context, StageResult, run, select

MODULE = "cpmap_lifecycle_test_stages"
TOY = (("CP1", "makes a table", f"{MODULE}:make"),
       ("CP3", "reads it", f"{MODULE}:read"))


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Two stages in a throwaway module: CP1 writes a file and hands it on, CP3 reads it."""
    seen: list[str] = []

    def make(ctx: Context) -> StageResult:
        path = ctx.workdir / "t.csv"
        path.write_text("a,b\n")
        return StageResult("CP1", True, ("made",), made=Artifacts(customers_csv=path))

    def read(ctx: Context) -> StageResult:
        seen.append(ctx.artifacts.customers_csv.read_text())
        return StageResult("CP3", True, ("read",))

    module = types.ModuleType(MODULE)
    module.make, module.read = make, read  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, MODULE, module)
    return seen


def test_select_keeps_lifecycle_order_and_both_cp3_stages() -> None:
    assert select(None) == STAGES
    chosen = select(["cp6", " CP3 ", "CP1"])
    assert [s[0] for s in chosen] == ["CP1", "CP3", "CP3", "CP6"]


@pytest.mark.parametrize("only", [["CP99"], ["CP1", "CP10"], ["cp1x"], [""], [" ", ","]])
def test_select_refuses_controls_without_a_stage(only: list[str]) -> None:
    with pytest.raises(InputError, match="^--only") as e:
        select(only)
    assert e.value.exit_code == 2
    assert e.value.message.endswith("(stages: CP1, CP2, CP3, CP4, CP5, CP6, CP7, CP8)")
    for control in (c.strip().upper() for c in only if c.strip() not in ("", "CP1")):
        assert control in e.value.message


def test_a_later_stage_gets_what_an_earlier_one_made(
        ws: Workspace, tmp_path: Path, toy: list[str]) -> None:
    ctx = Context(ws, tmp_path, lambda _s: None)
    shown: list[str] = []
    outcome = run(ctx, TOY, on_stage=lambda c, t: shown.append(c),
                  on_result=lambda r: shown.append(f"{r.control} {r.ok}"))
    assert toy == ["a,b\n"] and outcome.ok
    assert shown == ["CP1", "CP1 True", "CP3", "CP3 True"]
    assert outcome.artifacts.customers_csv == tmp_path / "t.csv"
    assert all(r.seconds >= 0 for r in outcome.results)
    assert not ctx.artifacts.has("customers_csv")  # the caller's context is not mutated


def test_a_stage_without_its_prerequisite_fails_and_the_run_goes_on(
        ws: Workspace, tmp_path: Path, toy: list[str]) -> None:
    outcome = run(Context(ws, tmp_path, lambda _s: None), TOY[::-1])
    first, second = outcome.results
    assert not first.ok and first.control == "CP3" and toy == []
    assert first.lines == ("artifact customers_csv (the raw customer table with PII) is "
                           "missing: the CP1 stage makes it; run it first (cpmap demo --only "
                           "CP1,CP3)",)
    assert second.ok and not outcome.ok


def test_cp6_alone_fails_naming_cp4_before_it_records_anything(
        ws: Workspace, tmp_path: Path) -> None:
    before = len(Ledger(ws).entries())
    (result,) = run(Context(ws, tmp_path, lambda _s: None), only=["CP6"]).results
    assert not result.ok and result.control == "CP6"
    assert "artifact digits_standard" in result.lines[0]
    assert "the CP4 stage makes it" in result.lines[0]
    assert len(Ledger(ws).entries()) == before


@given(st.lists(st.text(max_size=6) | st.sampled_from(["CP1", "cp3", " CP6 ", "CP9"]),
                max_size=5))
def test_select_either_picks_stages_in_order_or_refuses(only: list[str]) -> None:
    wanted = {c.strip().upper() for c in only if c.strip()}
    try:
        chosen = select(only)
    except InputError as e:
        assert not wanted or not wanted <= {s[0] for s in STAGES}, e.message
        assert "\n" not in e.message
        return
    assert chosen == tuple(s for s in STAGES if s[0] in wanted) and chosen
