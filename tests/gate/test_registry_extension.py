"""A control registered in the test alone reaches the gate, the report, `cpmap init`'s policy
and the CLI: adding a control is its package plus one registry line, no other file."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import typer

from cpmap import controls
from cpmap.core.control import CliGroup, ControlPoint, Gate, Rule
from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.predicate import Predicate, metric
from cpmap.formats.report import build_map, build_version_map
from cpmap.gate.evaluate import evaluate
from cpmap.gate.kit import Item, Reason, latest, no_evidence
from cpmap.gate.output import findings

from .conftest import Kit


@dataclass(frozen=True, kw_only=True)
class CanaryCheck(Predicate):
    kind: ClassVar[str] = "canary-check"
    control: ClassVar[str] = "CP11"
    score: float | None = metric(unit="ratio")


@dataclass(frozen=True, kw_only=True)
class CP11Rule(Rule):
    """A throwaway control: the canary score must reach min_score."""

    required: bool = True
    min_score: float = 0.5


def requirement(items: Sequence[Item], scope: Any, rule: CP11Rule) -> list[Reason]:
    found = latest(items, CanaryCheck)
    if found is None:
        return [no_evidence("no canary check")]
    score = found[1].score or 0.0
    return [] if score >= rule.min_score else [Reason(f"canary score {score} below "
                                                      f"{rule.min_score}")]


app = typer.Typer(help="throwaway")


@app.command("ping")
def ping() -> None:
    typer.echo("pong from CP11")


CP11 = ControlPoint("CP11", 5, "Canary control", "Exists only in this test.",
                    Gate(CP11Rule, requirement), evidence=(CanaryCheck,),
                    cli=(CliGroup("canary", __name__, "CP11: the throwaway control."),))


@pytest.fixture
def registered() -> Any:
    with controls.extended(CP11):
        yield


def test_throwaway_control_reaches_gate_report_and_policy(
        registered: None, kit: Kit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cpmap.cli import main
    from cpmap.core.workspace import init

    mv = kit.model()
    kit.everything(mv)
    missing = evaluate(kit.ws, mv)
    assert missing.control("CP11").status == "missing" and not missing.passed
    record(Evidence.of(CanaryCheck(verdict=Verdict.PASS, score=0.2),
                       [Subject(mv.ref, mv.digest)]), kit.ws)
    low = evaluate(kit.ws, mv)
    assert low.control("CP11").reasons == ("canary score 0.2 below 0.5",)
    assert [f.rule_id for f in findings(low)] == ["cpmap.gate.CP11"]
    record(Evidence.of(CanaryCheck(verdict=Verdict.PASS, score=0.9),
                       [Subject(mv.ref, mv.digest)]), kit.ws)
    assert evaluate(kit.ws, mv).passed

    cells = {c.control.id: c for c in build_map(kit.ws).cells}
    assert cells["CP11"].status == "pass" and cells["CP11"].kinds[0].metrics["score"] == 0.9
    assert build_version_map(kit.ws, mv.ref).cells[-1].control.id == "CP11"

    fresh = init(tmp_path / "fresh", "fresh")
    written = tomllib.loads((fresh.dir / "cpmap.toml").read_text())["gate"]
    assert written["CP11"] == {"required": True, "required_for": [], "min_score": 0.5}
    fresh.close()

    with pytest.raises(SystemExit) as done:
        main(["canary", "ping"])
    assert done.value.code in (0, None) and "pong from CP11" in capsys.readouterr().out


def test_unregistered_kind_reads_back_untyped(kit: Kit) -> None:
    from cpmap.controls import read_predicate
    from cpmap.core.predicate import Untyped

    p = read_predicate("canary-check", {"verdict": "pass", "metrics": {"score": 1}})
    assert isinstance(p, Untyped) and p.unknown.metrics == {"score": 1}


extra = typer.Typer(help="second half")


@extra.command("pong")
def pong() -> None:
    typer.echo("ping from CP12")


def test_two_controls_share_one_cli_group(capsys: pytest.CaptureFixture[str]) -> None:
    """CP8 and CP9 both add commands to ``cpmap monitor``: a group name declared twice is one
    group holding both modules' commands."""
    import sys
    import types

    from cpmap.cli import main

    holder = types.ModuleType(f"{__name__}_extra")
    cp12 = ControlPoint("CP12", 5, "Second canary", "Exists only in this test.", Gate(Rule),
                        cli=(CliGroup("canary", holder.__name__, "CP12: more."),))
    holder.app = extra  # type: ignore[attr-defined]
    sys.modules[holder.__name__] = holder
    try:
        with controls.extended(CP11, cp12):
            for argv in (["canary", "ping"], ["canary", "pong"]):
                with pytest.raises(SystemExit) as done:
                    main(argv)
                assert done.value.code == 0
    finally:
        del sys.modules[holder.__name__]
    out = capsys.readouterr().out
    assert "pong from CP11" in out and "ping from CP12" in out
