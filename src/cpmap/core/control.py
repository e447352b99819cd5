"""How a control point declares itself: once, in its own package (``<package>/control.py``).

A :class:`ControlPoint` names everything the rest of cpmap needs to know about a control: its
place in the map, its gate requirement and the typed defaults of that requirement, the evidence
kinds it produces, its store tables, its CLI groups and commands, its configuration sections and
its lifecycle stages. :mod:`cpmap.controls` lists the declarations; the gate, ``cpmap init``, the
store, the CLI, the report and ``cpmap demo`` all read from there, so adding a control touches
its package and one line of that list.

Code is named by ``"module:attribute"`` strings where importing it would be heavy (a CLI group
pulls in its library; a requirement pulls in the ledger): declarations stay cheap to import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cpmap.core.predicate import Predicate
from cpmap.core.tags import Tag

PHASES = {1: "Data", 2: "Build", 3: "Validate", 4: "Serve", 5: "Operate"}


@dataclass(frozen=True, kw_only=True)
class Rule:
    """Base of a control's gate settings (``[gate.CPn]`` in cpmap.toml).

    Subclasses add typed fields with defaults; ``metadata={"doc": ...}`` becomes the comment in
    the cpmap.toml that ``cpmap init`` writes, ``metadata={"key": ...}`` a key that is not a
    Python identifier. The class docstring heads the section.
    """

    required: bool = False
    # registry stages whose promotion needs the control even when it is not required
    # everywhere (CP7's gateway check is needed for production, not for staging)
    required_for: tuple[str, ...] = ()


class About(StrEnum):
    """Which part of a model version's lineage a control's evidence is about."""

    DATA = "data"  # the training data and every recorded ancestor
    BUILD = "build"  # the model's files and its build environment
    MODEL = "model"  # the model version itself


class FailedEvidence(StrEnum):
    """Whether evidence whose own verdict is ``fail`` fails the control by itself."""

    IGNORE = "ignore"  # the requirement alone decides
    ANY = "any"  # failing evidence about anything in the control's part of the lineage
    TRAINING_DATA = "training-data"  # only about the direct training data (ancestors are fixed)


@dataclass(frozen=True)
class Gate:
    """A control's release requirement."""

    rule: type[Rule]
    # "module:function" (kept lazy: a requirement imports the ledger) or the function itself;
    # see cpmap.gate.kit.Requirement. None: some verified evidence must exist.
    requirement: str | Callable[..., Any] | None = None
    about: About = About.MODEL
    failed_evidence: FailedEvidence = FailedEvidence.ANY
    tags: tuple[Tag, ...] = ()  # ATLAS techniques a blocked control points to


@dataclass(frozen=True)
class CliGroup:
    name: str
    module: str  # holds a typer ``app``
    help: str


@dataclass(frozen=True)
class CliCommand:
    name: str
    module: str
    function: str


@dataclass(frozen=True)
class Stage:
    """A lifecycle stage of ``cpmap demo``: ``target`` is ``"module:function"`` (ctx -> result)."""

    title: str
    target: str


@dataclass(frozen=True)
class ControlPoint:
    id: str
    phase: int
    title: str
    summary: str
    gate: Gate
    commands: tuple[str, ...] = ()  # shown in the map and the README table
    evidence: tuple[type[Predicate], ...] = ()
    tables: tuple[str, ...] = ()  # modules that define store tables on cpmap.core.store.metadata
    cli: tuple[CliGroup | CliCommand, ...] = ()
    stages: tuple[Stage, ...] = ()
    config: tuple[str, ...] = ()  # cpmap.toml sections the control reads
    implemented: bool = True
    package: str = field(default="", compare=False)

    @property
    def phase_name(self) -> str:
        return PHASES[self.phase]

    def __post_init__(self) -> None:
        for p in self.evidence:
            if p.control != self.id:
                raise ValueError(f"{self.id}: evidence kind {p.kind} belongs to {p.control}")


def load(target: str) -> Any:
    """Import ``"module:attribute"``."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
