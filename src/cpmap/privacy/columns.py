"""Per-column PII classification of a table sample: values, header names and value shapes.

A column's values are joined into one text and run through the analyzer once (one regex pass
per entity instead of one per cell); matches are mapped back to rows. The share of sampled rows
holding an entity, the column's header name and, for names and places that need NER in free
text, the shape of the values decide whether the column is PII:

* ``identifier``: most values are the entity (share >= 0.5), or the header names the entity and
  at least 10% of values validate (a phone column with some malformed numbers);
* ``free-text``: long values where some rows contain PII (a notes column);
* not PII otherwise.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cpmap.privacy.detect import Analyzer

MIN_SHARE = 0.5
HEADER_SHARE = 0.1
FREE_TEXT_LEN = 24

_HEADERS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), e) for p, e in (
        (r"^(e_?)?mail(_?addr(ess)?)?$|email", "EMAIL_ADDRESS"),
        (r"phone|mobile|^tel(ephone)?$|^cell|^fax", "PHONE_NUMBER"),
        (r"ssn|social_?security", "US_SSN"),
        (r"credit_?card|card_?(number|no|num)|^cc_?(number|num|no)?$|^pan$", "CREDIT_CARD"),
        (r"iban", "IBAN_CODE"),
        (r"^ip(_?(addr|address|v4|v6))?$|ip_address", "IP_ADDRESS"),
        (r"^(first|last|full|given|family|sur|middle|maiden|customer|patient|user)?_?name$",
         "PERSON"),
        (r"city|address|street|country|^state$|zip|post_?code|postal|region|county", "LOCATION"),
        (r"birth|^dob$", "DATE_TIME"),
        (r"nhs", "UK_NHS"),
        (r"itin", "US_ITIN"),
    )
)
_SHAPES: dict[str, re.Pattern[str]] = {
    "PERSON": re.compile(r"^(?:(?:Mr|Mrs|Ms|Dr|Prof)\.? )?[A-Z][a-z'’.-]+(?: [A-Z][A-Za-z'’.-]*)"
                         r"{1,3}(?: (?:Jr|Sr|II|III|IV|MD|PhD|DDS|DVM)\.?)?$"),
    "LOCATION": re.compile(r"^(?:\d{5}(?:-\d{4})?|[A-Z]\d[A-Z] ?\d[A-Z]\d"
                           r"|[A-Z][A-Za-z0-9 .,'#-]{1,80})$"),
    "DATE_TIME": re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}/\d{1,2}/\d{2,4}$"),
}


def header_entity(column: str) -> str | None:
    norm = re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")
    for pattern, entity in _HEADERS:
        if pattern.search(norm):
            return entity
    return None


@dataclass(frozen=True)
class ColumnResult:
    column: str
    entity: str | None
    share: float  # share of sampled non-empty rows holding ``entity``
    pii: bool
    mode: str  # "identifier", "free-text" or "" (not PII)
    reason: str  # "values", "header+values", "header+shape", "values in free text"
    rows: int  # non-empty sampled rows
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "entity": self.entity, "share": round(self.share, 4),
                "pii": self.pii, "mode": self.mode, "reason": self.reason,
                "rows_sampled": self.rows, "entity_rows": self.counts}


def entity_rows(values: list[str], analyzer: Analyzer) -> Counter[str]:
    """How many of ``values`` hold each entity (a row counts once per entity)."""
    if not values:
        return Counter()
    text = "\n".join(v.replace("\n", " ") for v in values)
    starts = [0]
    for v in values[:-1]:
        starts.append(starts[-1] + len(v) + 1)
    seen: set[tuple[str, int]] = set()
    for m in analyzer.analyze(text):
        seen.add((m.entity, bisect.bisect_right(starts, m.start) - 1))
    return Counter(entity for entity, _row in seen)


def classify(column: str, series: pd.Series, analyzer: Analyzer) -> ColumnResult:
    text = series.astype(str).fillna("")  # pandas 3 keeps missing values as NaN
    values = [v for v in text.tolist() if v.strip() and v not in ("nan", "None")]
    n = len(values)
    hint = header_entity(column)
    if analyzer.entities is not None and hint not in analyzer.entities:
        hint = None
    tuned = getattr(analyzer, "for_column", None)  # cpmap's engine: column phone regions
    counts = entity_rows(values, tuned(values, hint, column) if tuned is not None else analyzer)
    best, best_n = (counts.most_common(1)[0] if counts else (None, 0))
    share = best_n / n if n else 0.0
    if best and share >= MIN_SHARE:
        reason = "header+values" if hint == best else "values"
        return ColumnResult(column, best, share, True, "identifier", reason, n, dict(counts))
    if hint and n and counts.get(hint, 0) / n >= HEADER_SHARE:
        return ColumnResult(column, hint, counts[hint] / n, True, "identifier", "header+values",
                            n, dict(counts))
    if hint in _SHAPES and n:
        shaped = sum(1 for v in values if _SHAPES[hint].match(v.strip()))
        if shaped / n >= MIN_SHARE:
            return ColumnResult(column, hint, shaped / n, True, "identifier", "header+shape", n,
                                dict(counts))
    if best and sum(map(len, values)) / n >= FREE_TEXT_LEN:
        return ColumnResult(column, best, share, True, "free-text", "values in free text", n,
                            dict(counts))
    return ColumnResult(column, best, share, False, "", "", n, dict(counts))
