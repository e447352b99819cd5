"""The last line of defence: no string that holds a secret reaches evidence.

:func:`scrub` walks a JSON-like value (mappings, lists, tuples, sets, strings, scalars) and
returns an equal value in which every secret the engine finds in a string, or in a mapping's key,
is replaced by its mask. Controls should never put a secret into evidence in the first place;
this catches the ones that do (a requirement line that was an ``.env`` line, an exception message
that quoted a URL with its password) before the statement is signed into the append-only ledger.

All strings are scanned as one text (one keyword prefilter, one pass per matching rule), so a
predicate without a secret costs one scan of its strings; the value is rebuilt only when
something was found. Config-file rules are on: evidence strings are often ``NAME=value`` lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cpmap.supplychain.secrets.engine import mask, scan_text

MIN_PIECE = 8  # a secret split over two strings is masked piecewise, pieces this long or more


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str):
                out.append(k)
            _strings(v, out)
    elif isinstance(value, list | tuple | set | frozenset):
        for v in value:
            _strings(v, out)


def _masker(secrets: set[str]) -> dict[str, str]:
    """secret (or a long piece of one that spans strings) -> its mask, longest first."""
    pieces: dict[str, str] = {}
    for s in secrets:
        pieces[s] = mask(s)
        for part in s.split("\n"):
            if len(part) >= MIN_PIECE and part != s:
                pieces.setdefault(part, mask(part))
    return dict(sorted(pieces.items(), key=lambda kv: -len(kv[0])))


def _mask_str(text: str, pieces: dict[str, str]) -> str:
    for secret, masked in pieces.items():
        if secret in text:
            text = text.replace(secret, masked)
    return text


def _rebuild(value: Any, pieces: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _mask_str(value, pieces)
    if isinstance(value, Mapping):
        return {(_mask_str(k, pieces) if isinstance(k, str) else k): _rebuild(v, pieces)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rebuild(v, pieces) for v in value]  # JSON has one kind of array
    if isinstance(value, set | frozenset):
        return {_rebuild(v, pieces) for v in value}
    return value


def find_secrets(value: Any) -> set[str]:
    """Every secret the engine finds in the strings (and string keys) of ``value``."""
    strings: list[str] = []
    _strings(value, strings)
    if not strings:
        return set()
    unique = dict.fromkeys(strings)  # findings repeat their tags and remediation texts
    return {hit.secret for hit in scan_text("\n".join(unique), config=True)}


def scrub(value: Any) -> Any:
    """``value`` with every secret in its strings masked; ``value`` itself when there is none."""
    found = find_secrets(value)
    return _rebuild(value, _masker(found)) if found else value
