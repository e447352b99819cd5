"""The PII detection engine: compiled patterns, validators, overlap resolution.

:class:`RegexAnalyzer` is cpmap's own engine; :mod:`cpmap.privacy.presidio_backend` wraps
Presidio behind the same :class:`Analyzer` protocol, so the scanner, the redactor and the
benchmark do not care which one runs. Both return :class:`Match` spans with Presidio entity
names and character offsets into the analyzed text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from cpmap.privacy.entities import EntitySpec, specs_for
from cpmap.privacy.phones import (
    DEFAULT_REGIONS,
    SCORE,
    NationalPhones,
    column_regions,
    header_negates_phone,
    not_a_phone,
)

_CONTEXT_WINDOW = 48


@dataclass(frozen=True, slots=True)
class Match:
    entity: str
    start: int
    end: int
    score: float


class Analyzer(Protocol):
    """Finds PII spans in a text."""

    name: str
    entities: frozenset[str] | None

    def analyze(self, text: str) -> list[Match]: ...


class RegexAnalyzer:
    """Compiled patterns plus validators; no model, no network, no per-token work.

    ``phone_regions`` are the countries whose national-format numbers (no ``+``) are looked
    for, besides those the text itself suggests (:mod:`cpmap.privacy.phones`).
    """

    name = "cpmap"

    def __init__(self, entities: frozenset[str] | None = None, min_score: float = 0.0,
                 phone_regions: tuple[str, ...] = DEFAULT_REGIONS,
                 assume_phone: bool = False) -> None:
        self.entities = entities
        self.min_score = min_score
        self.phone_regions = tuple(phone_regions)
        self._specs = tuple(s for s in specs_for(entities) if s.score >= min_score)
        self._gates = tuple(s.context_anywhere for s in self._specs)
        wanted = entities is None or "PHONE_NUMBER" in entities
        self._national = (NationalPhones(self.phone_regions, assume_phone)
                          if wanted and SCORE >= min_score else None)

    def for_column(self, values: list[str], header_entity: str | None,
                   header: str = "") -> RegexAnalyzer:
        """This analyzer tuned to one table column: the regions of the column's international
        numbers go first; a header naming phones, or values that are mostly grouped national
        numbers, count as a phone word for every value; a header naming ids, amounts, dates
        or codes turns phone detection off for the column."""
        if self._national is None:
            return self
        if header_negates_phone(header) and header_entity != "PHONE_NUMBER":
            wanted = self.entities if self.entities is not None else frozenset(
                s.entity for s in self._specs)
            return RegexAnalyzer(wanted - {"PHONE_NUMBER"}, self.min_score, self.phone_regions)
        regions = tuple(dict.fromkeys((*column_regions(values), *self.phone_regions)))
        phones = header_entity == "PHONE_NUMBER" or NationalPhones(regions).column_is_phones(
            values)
        return RegexAnalyzer(self.entities, self.min_score, regions, assume_phone=phones)

    def analyze(self, text: str) -> list[Match]:
        found: list[Match] = []
        for spec, gate in zip(self._specs, self._gates, strict=True):
            if spec.hint and spec.hint not in text:
                continue
            if gate is not None and gate.search(text) is None:
                continue  # e.g. no "SSN" or "NHS" anywhere: skip the bare-number pass
            found.extend(_candidates(spec, text))
        if self._national is not None:
            taken = sorted((m.start, m.end) for m in resolve(found))
            found.extend(Match("PHONE_NUMBER", s, e, score)
                         for s, e, score in self._national.find(text, taken))
            if not self._national.assume_phone:
                found = [m for m in found if m.entity != "PHONE_NUMBER"
                         or not not_a_phone(text, m.start, m.end)]
        return resolve(found)


def _raw(spec: EntitySpec, text: str) -> Iterator[re.Match[str]]:
    """Pattern matches, over the whole text or only in windows around anchor hits."""
    if spec.anchor is None:
        yield from spec.pattern.finditer(text)
        return
    back, fwd = spec.reach
    covered = 0
    for hit in spec.anchor.finditer(text):
        p = hit.start()
        if p < covered:
            continue
        hi = min(len(text), p + fwd)
        for m in spec.pattern.finditer(text, max(covered, p - back), hi):
            # A match that touches the window's end may be cut short: a later anchor finds it.
            if m.start() >= covered and (m.end() < hi or hi == len(text)):
                covered = m.end()
                yield m


def _candidates(spec: EntitySpec, text: str) -> list[Match]:
    out = []
    for m in _raw(spec, text):
        start, end = m.span()
        value = m.group()
        if spec.context is not None and spec.context.search(
                text, max(0, start - _CONTEXT_WINDOW), start) is None:
            continue
        if spec.validator(value):
            out.append(Match(spec.entity, start, end, spec.score))
        elif spec.entity == "IBAN_CODE" and " " in value:
            shorter = _trim_iban(spec, value)
            if shorter:
                out.append(Match(spec.entity, start, start + shorter, spec.score))
    return out


def _trim_iban(spec: EntitySpec, value: str) -> int:
    """A spaced IBAN followed by an upper-case word: retry without trailing groups."""
    cut = value.rfind(" ")
    while cut > 15:
        if spec.validator(value[:cut]):
            return cut
        cut = value.rfind(" ", 0, cut)
    return 0


def resolve(matches: list[Match]) -> list[Match]:
    """Keep the best of overlapping spans (higher score, then longer), in text order."""
    if len(matches) < 2:
        return matches
    ranked = sorted(matches, key=lambda m: (-m.score, m.start - m.end, m.start))
    starts: list[int] = []
    kept: list[Match] = []
    for m in ranked:
        i = bisect.bisect_right(starts, m.start)
        if i > 0 and kept[i - 1].end > m.start:
            continue
        if i < len(kept) and kept[i].start < m.end:
            continue
        starts.insert(i, m.start)
        kept.insert(i, m)
    return kept


def redacted_snippet(text: str, match: Match, others: list[Match], width: int = 24) -> str:
    """Text around ``match`` with it and every other detected span replaced by ``<ENTITY>``."""
    lo, hi = max(0, match.start - width), min(len(text), match.end + width)
    parts: list[str] = []
    pos = lo
    for m in others:
        if m.end <= lo or m.start >= hi:
            continue
        parts.append(text[pos:max(pos, m.start)])
        parts.append(f"<{m.entity}>")
        pos = max(pos, m.end)
    parts.append(text[pos:hi])
    return "".join(parts).replace("\n", " ").replace("\r", " ")
