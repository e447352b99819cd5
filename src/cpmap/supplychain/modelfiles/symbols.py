"""Symbolic values of the pickle replay: what an opcode pushes, instead of real objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, eq=False)
class Global:
    module: str
    name: str

    @property
    def qual(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Call:
    func: Any
    args: Any
    state: Any = None


@dataclass(frozen=True, eq=False)
class Opaque:
    label: str


@dataclass(eq=False)
class SymDict:
    items: list[tuple[Any, Any]] = field(default_factory=list)

    def get(self, key: str) -> Any:
        for k, v in self.items:
            if k == key:
                return v
        return None


def fold_str(value: Any) -> Any:
    """``builtins.str('os')`` is still the literal 'os': see through it."""
    if (isinstance(value, Call) and isinstance(value.func, Global)
            and value.func.qual in ("builtins.str", "__builtin__.str")
            and isinstance(value.args, tuple) and len(value.args) == 1
            and isinstance(value.args[0], str)):
        return value.args[0]
    return value


def const_bytes(value: Any) -> bytes | None:
    """Bytes known at scan time: a literal, or protocol 2's ``_codecs.encode(str, 'latin1')``."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if (isinstance(value, Call) and isinstance(value.func, Global)
            and value.func.qual in ("_codecs.encode", "codecs.encode")
            and isinstance(value.args, tuple) and len(value.args) == 2
            and isinstance(value.args[0], str) and value.args[1] in ("latin1", "latin-1")):
        return value.args[0].encode("latin-1")
    return None
