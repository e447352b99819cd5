"""THE control registry: the Control Points Map's ten controls, each declared in its package.

Everything that needs to know the controls reads them here: the gate (requirements and their
typed defaults), ``cpmap init`` (the ``[gate]`` policy it writes), the store (table modules),
the CLI (groups and commands), the report (the map's cells), the lifecycle behind ``cpmap demo``
(stages) and the evidence reader (which typed predicate a kind is). Built-ins and extensions go
through the same path: a package on the ``cpmap.controls`` entry-point group that names a
:class:`~cpmap.core.control.ControlPoint` joins the map like a built-in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from cpmap.core.control import PHASES, ControlPoint
from cpmap.core.predicate import Predicate, Untyped
from cpmap.drift.control import CONTROL as CP9
from cpmap.gateway.control import CONTROL as CP7
from cpmap.monitor.control import CONTROL as CP8
from cpmap.privacy.control import CONTROL as CP2
from cpmap.provenance.control import CONTROL as CP1
from cpmap.redteam.control import CONTROL as CP5
from cpmap.registry.control import CONTROL as CP6
from cpmap.retrain.control import CONTROL as CP10
from cpmap.robustness.control import CONTROL as CP4
from cpmap.supplychain.control import CONTROL as CP3

__all__ = ["BUILTIN", "PHASES", "ControlPoint", "all_controls", "config_sections", "control",
           "extended", "predicate_class", "read_predicate", "table_modules"]


BUILTIN: tuple[ControlPoint, ...] = (
    CP1, CP2, CP3, CP4, CP5, CP6, CP7, CP8, CP9, CP10,
)

_extra: list[ControlPoint] = []


@cache
def _plugins() -> tuple[ControlPoint, ...]:
    found = []
    for ep in entry_points(group="cpmap.controls"):
        value = ep.load()
        if not isinstance(value, ControlPoint):
            raise TypeError(f"entry point {ep.name} ({ep.value}) is not a ControlPoint")
        found.append(value)
    return tuple(found)


def all_controls() -> tuple[ControlPoint, ...]:
    """Every control in map order (phase, then declaration order); ids are unique."""
    merged: dict[str, ControlPoint] = {}
    for c in (*BUILTIN, *_plugins(), *_extra):
        merged[c.id] = c  # a later declaration of an id replaces a planned one
    return tuple(sorted(merged.values(), key=lambda c: c.phase))


def control(cp: str) -> ControlPoint:
    for c in all_controls():
        if c.id == cp:
            return c
    raise KeyError(cp)


@contextmanager
def extended(*more: ControlPoint) -> Iterator[None]:
    """Register ``more`` for the duration of the block (tests, notebooks)."""
    _extra.extend(more)
    _kinds.cache_clear()
    try:
        yield
    finally:
        for c in more:
            _extra.remove(c)
        _kinds.cache_clear()


CORE_SECTIONS = ("workspace", "store", "gate")  # cpmap's own cpmap.toml sections


def config_sections() -> tuple[str, ...]:
    """The cpmap.toml sections cpmap and its controls read (``CPMAP_<SECTION>_<KEY>`` sets)."""
    return tuple(dict.fromkeys((*CORE_SECTIONS, *(s for c in all_controls() for s in c.config))))


def table_modules() -> tuple[str, ...]:
    """Modules that define the controls' store tables."""
    return tuple(dict.fromkeys(t for c in all_controls() for t in c.tables))


@cache
def _kinds() -> Mapping[str, type[Predicate]]:
    return {p.kind: p for c in all_controls() for p in c.evidence}


def predicate_class(kind: str) -> type[Predicate]:
    """The typed predicate of an evidence kind (:class:`Untyped` for kinds nobody declares)."""
    return _kinds().get(kind, Untyped)


def read_predicate(kind: str, predicate: Mapping[str, Any]) -> Predicate:
    """The typed predicate of a ledger entry's wire predicate."""
    return predicate_class(kind).parse(predicate)
