"""The one parser of references to named, versioned things: ``name``, ``name@N``, ``name@alias``
(also written ``name:alias``, as ``cpmap serve digits:staging``).

Datasets (CP1), stored models and registry models (CP6) are all named this way. Versions are
numbered from 1 up to the store's INTEGER, so a version out of that range is bad input here,
never an overflow in the database driver; ``isdecimal`` and ASCII digits only, because
``"²".isdigit()`` is true and ``int("²")`` raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cpmap.core.names import check_name
from cpmap.errors import InputError

MAX_VERSION = 2**63 - 1  # the store's INTEGER
ALIAS_RE = re.compile(r"[a-z][a-z0-9_-]{0,99}")
LATEST = "latest"
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Ref:
    """A parsed reference: a valid name, and at most one of a version number or an alias.

    Neither means the latest version (``name`` and ``name@latest`` are the same reference).
    """

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str, what: str = "model", *, aliases: bool = False) -> Ref:
        """Parse ``text``; ``what`` names the kind of thing in errors ("dataset", "model").

        With ``aliases`` a selector that is not a number is an alias (the registry's
        ``production``, ``candidate``); without, it is bad input.
        """
        name, at, selector = text.partition("@")
        if aliases and not at and ":" in text:  # ``name:alias`` is ``name@alias`` (names hold
            name, _, selector = text.partition(":")  # no colon, so the two cannot clash)
        check_name(what, name)
        if not selector or (aliases and selector == LATEST):
            return cls(name)
        if _DIGITS.fullmatch(selector):
            number = int(selector) if len(selector) <= 20 else MAX_VERSION + 1
            if not 1 <= number <= MAX_VERSION:
                raise InputError(f"{what} {text!r}: no such version (versions are numbered "
                                 f"1 to {MAX_VERSION})")
            return cls(name, version=number)
        if not aliases:
            raise InputError(f"{what} {text!r}: version must be a number")
        if not ALIAS_RE.fullmatch(selector):
            raise InputError(f"{what} {text!r}: no such version or alias (aliases are lowercase "
                             "letters, digits, '_' and '-')")
        return cls(name, alias=selector)

    @property
    def selector(self) -> str:
        """What follows the ``@``: the version number, the alias, or ``latest``."""
        if self.version is not None:
            return str(self.version)
        return self.alias or LATEST

    @property
    def pinned(self) -> bool:
        """Whether the reference names one version, not "the latest" or an alias."""
        return self.version is not None

    def __str__(self) -> str:
        return self.name if self.selector == LATEST else f"{self.name}@{self.selector}"
