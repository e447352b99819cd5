"""The typed evidence contract: one frozen dataclass per evidence kind.

A control's producer builds its kind's :class:`Predicate` and records it; the gate and the
report read the same class back from the ledger. So a metric has one name, written once, and
renaming it breaks the gate's tests instead of silently failing a release.

On the wire (the in-toto predicate inside the signed envelope) a predicate keeps the layout every
cpmap ledger already holds: ``verdict``, ``metrics`` (numbers), ``findings``, ``details``
(everything else, ``highlights`` and ``plots`` included). Each field says where it goes:
:func:`metric` fields go to ``metrics``, all others to ``details``; ``key=`` gives a wire name
that is not a Python identifier (``max_tpr@0.1pct``), and :func:`family` collects a set of
metrics that share a prefix (``robust_accuracy@0.1``, ``robust_accuracy@0.2``) into one mapping.
Keys a reader does not know (written by a newer cpmap) are kept in ``unknown`` and written back.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import NoneType, UnionType
from typing import Any, ClassVar, Self

from cpmap.core.findings import Finding, Verdict

METRICS, DETAILS = "metrics", "details"


def metric(default: Any = None, *, key: str | None = None, unit: str = "") -> Any:
    """A number in the predicate's ``metrics`` (``unit``: "ratio", "seconds", "count"...)."""
    return field(default=default, metadata={"section": METRICS, "key": key, "unit": unit})


def family(prefix: str, *, unit: str = "") -> Any:
    """Metrics ``{prefix}{suffix}`` gathered into one ``Mapping[str, float]`` by suffix."""
    return field(default_factory=dict,
                 metadata={"section": METRICS, "prefix": prefix, "unit": unit})


def detail(default: Any = dataclasses.MISSING, *, key: str | None = None,
           factory: Any = dataclasses.MISSING) -> Any:
    """A value in the predicate's ``details`` (any JSON value)."""
    meta = {"section": DETAILS, "key": key}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=None if default is dataclasses.MISSING else default, metadata=meta)


@dataclass(frozen=True)
class Plot:
    """A figure stored as a workspace object, shown by the report."""

    sha256: str
    title: str = ""
    media_type: str = "image/png"

    @classmethod
    def of(cls, ref: Mapping[str, str]) -> Plot:
        """From the reference :func:`cpmap.core.artifacts.save_plot` returns."""
        return cls(str(ref["sha256"]), str(ref.get("title", "")),
                   str(ref.get("media_type", "image/png")))


@dataclass(frozen=True)
class Unknown:
    """Keys of ``metrics`` and ``details`` this version of cpmap does not declare."""

    metrics: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Predicate:
    """Base of every evidence kind: the verdict, findings, highlights and plots."""

    kind: ClassVar[str] = ""
    control: ClassVar[str] = ""

    verdict: Verdict
    findings: tuple[Finding, ...] = ()
    highlights: tuple[str, ...] = detail(factory=tuple)
    plots: tuple[Plot, ...] = detail(factory=tuple)
    unknown: Unknown = field(default_factory=Unknown)

    def metrics(self) -> dict[str, Any]:
        return _encode(self, METRICS)

    def details(self) -> dict[str, Any]:
        return _encode(self, DETAILS)

    @classmethod
    def parse(cls, predicate: Mapping[str, Any]) -> Self:
        """Read the wire predicate back into this kind (unknown keys kept in ``unknown``)."""
        found: Self = _decode(cls, predicate)
        return found

    @classmethod
    def strict(cls, verdict: Verdict, metrics: Mapping[str, Any] | None = None,
               findings: Sequence[Finding] = (), details: Mapping[str, Any] | None = None
               ) -> Self:
        """This kind from wire-shaped parts, refusing any key the kind does not declare: what
        :func:`cpmap.core.evidence.record` checks every recorded predicate against."""
        p: Self = _decode(cls, {"verdict": verdict.value, "metrics": dict(metrics or {}),
                                "details": dict(details or {})})
        extra = [*p.unknown.metrics, *p.unknown.details]
        if extra:
            raise ContractError(f"{cls.kind} evidence: undeclared key(s) {', '.join(extra)} "
                                f"(declare them on {cls.__qualname__})")
        return dataclasses.replace(p, findings=tuple(findings))


class ContractError(TypeError):
    """A producer recorded evidence that its kind's predicate does not declare (a bug)."""


@dataclass(frozen=True, kw_only=True)
class Untyped(Predicate):
    """Evidence of a kind no registered control declares (kept whole, for display)."""


# -- encoding ------------------------------------------------------------------------------------

def _wire(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key") or f.name)


def _fields(cls: type[Predicate], section: str) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("section") == section]


def _encode(p: Predicate, section: str) -> dict[str, Any]:
    unknown = p.unknown.metrics if section == METRICS else p.unknown.details
    out: dict[str, Any] = dict(unknown)
    for f in _fields(type(p), section):
        value = getattr(p, f.name)
        if "prefix" in f.metadata:
            out.update({f"{f.metadata['prefix']}{k}": v for k, v in value.items()})
        elif value is not None or section == DETAILS:
            out[_wire(f)] = to_json(value)
    return out


def to_json(value: Any) -> Any:
    """Plain JSON for a field value: dataclasses become objects, tuples lists, enums values."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Finding):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


# -- decoding ------------------------------------------------------------------------------------

def _decode(cls: type[Any], pred: Mapping[str, Any]) -> Any:
    metrics = _mapping(pred.get(METRICS))
    details = _mapping(pred.get(DETAILS))
    hints = _hints(cls)
    values: dict[str, Any] = {"verdict": _verdict(pred.get("verdict")),
                              "findings": _findings(pred.get("findings"))}
    seen = {METRICS: set[str](), DETAILS: set[str]()}
    for section, source in ((METRICS, metrics), (DETAILS, details)):
        for f in _fields(cls, section):
            if "prefix" in f.metadata:
                prefix = f.metadata["prefix"]
                got = {k[len(prefix):]: v for k, v in source.items() if k.startswith(prefix)}
                seen[section] |= {prefix + k for k in got}
                values[f.name] = got
            elif _wire(f) in source:
                seen[section].add(_wire(f))
                values[f.name] = convert(hints[f.name], source[_wire(f)])
    values["unknown"] = Unknown({k: v for k, v in metrics.items() if k not in seen[METRICS]},
                                {k: v for k, v in details.items() if k not in seen[DETAILS]})
    return cls(**values)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _verdict(value: Any) -> Verdict:
    try:
        return Verdict(value)
    except ValueError:
        return Verdict.INFO


def _findings(value: Any) -> tuple[Finding, ...]:
    out = []
    for f in value if isinstance(value, list) else []:
        if isinstance(f, Mapping) and "rule_id" in f:
            try:
                out.append(Finding.from_dict(f))
            except (ValueError, TypeError):
                continue
    return tuple(out)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    """Field types, resolved once per class (annotations are strings under PEP 563)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def convert(hint: Any, value: Any) -> Any:
    """``value`` (plain JSON) as the field's declared type, as far as the JSON allows.

    Values that do not fit (a string where a number is declared) are kept as they are: reading
    evidence never fails, and the gate checks the types of what it decides on.
    """
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or value is None:
        return value
    if origin in (UnionType, typing.Union):
        inner = [a for a in args if a is not NoneType]
        return convert(inner[0], value) if len(inner) == 1 else value
    if origin is tuple and isinstance(value, list | tuple):
        item = args[0] if args else Any
        return tuple(convert(item, v) for v in value)
    if origin in (Mapping, dict) and isinstance(value, Mapping):
        inner_hint = args[1] if len(args) == 2 else Any
        return {k: convert(inner_hint, v) for k, v in value.items()}
    if isinstance(hint, type):
        return _convert_type(hint, value)
    return value


def _convert_type(hint: type[Any], value: Any) -> Any:
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            return value
    if hint is Finding and isinstance(value, Mapping):
        return Finding.from_dict(value)
    if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        hints = _hints(hint)
        names = {f.name for f in dataclasses.fields(hint)}
        return hint(**{k: convert(hints[k], v) for k, v in value.items() if k in names})
    return value


def wire(p: Predicate) -> dict[str, Any]:
    """The predicate's wire fields (without timestamp and tool, which ``record`` adds)."""
    return {"control": p.control, "verdict": p.verdict.value, "metrics": p.metrics(),
            "findings": [f.to_dict() for f in p.findings], "details": p.details()}


def numbers(values: Sequence[Any]) -> list[float]:
    """The entries of ``values`` that are real numbers (bools are not)."""
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
