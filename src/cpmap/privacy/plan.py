"""What a redaction does, independent of where it runs: the plan (a strategy per column, per
entity, or by default), the table columns it targets (from a sampled scan) and the transform of
one chunk of rows. The single-process path (:mod:`cpmap.privacy.redact`) and the Dask workers
(:mod:`cpmap.privacy.distributed`) both apply :func:`transform_chunk`, so their outputs match.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cpmap.errors import InputError
from cpmap.privacy.detect import Analyzer
from cpmap.privacy.entities import DIRECT, check_entities
from cpmap.privacy.transform import Replacer, Strategy


@dataclass(frozen=True)
class Plan:
    """Which strategy applies: per column, else per entity, else the default."""

    default: Strategy = Strategy.hash
    columns: Mapping[str, Strategy] = field(default_factory=dict)
    entities: Mapping[str, Strategy] = field(default_factory=dict)
    direct_only: bool = False

    def for_entity(self, entity: str) -> Strategy:
        return self.entities.get(entity, self.default)

    def for_column(self, column: str, entity: str) -> Strategy:
        return self.columns.get(column) or self.for_entity(entity)

    def wants(self, entity: str) -> bool:
        return not self.direct_only or entity in DIRECT


def parse_overrides(items: list[str] | None, what: str) -> dict[str, Strategy]:
    """``NAME=STRATEGY`` pairs from ``--column``/``--entity``."""
    out: dict[str, Strategy] = {}
    for item in items or []:
        name, sep, strategy = item.rpartition("=")
        if not sep or not name:
            raise InputError(f"--{what} {item!r}: expected NAME=STRATEGY")
        try:
            out[name] = Strategy(strategy.strip().lower())
        except ValueError as e:
            raise InputError(f"--{what} {item!r}: strategy must be one of "
                             f"{', '.join(s.value for s in Strategy)}") from e
    if what == "entity":
        check_entities(list(out))
        out = {n.upper(): s for n, s in out.items()}
    return out


def redact_string(text: str, analyzer: Analyzer, plan: Plan, rep: Replacer,
                  counts: Counter[str], seen: set[str] | None = None) -> str:
    parts: list[str] = []
    pos = 0
    for m in analyzer.analyze(text):
        if not plan.wants(m.entity):
            continue
        parts.append(text[pos:m.start])
        value = text[m.start:m.end]
        new = rep(plan.for_entity(m.entity), m.entity, value)
        if seen is not None:
            seen.add(value)
        if new is not None:
            parts.append(new)
        counts[m.entity] += 1
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts)


@dataclass(frozen=True)
class Target:
    column: str
    entity: str
    mode: str  # "identifier" or "free-text"
    strategy: Strategy


def table_targets(src: Path, analyzer: Analyzer, plan: Plan, sample_rows: int) -> list[Target]:
    from cpmap.privacy.columns import header_entity
    from cpmap.privacy.scan import scan_table

    scanned = scan_table(src, analyzer, sample_rows)
    names = [c.column for c in scanned.columns]
    unknown = [c for c in plan.columns if c not in names]
    if unknown:
        raise InputError(f"{src}: --column {', '.join(unknown)} not in the table "
                         f"(columns: {', '.join(names)})")
    targets = []
    for c in scanned.columns:
        forced = c.column in plan.columns
        if c.pii and c.entity and plan.wants(c.entity) or forced:
            entity = c.entity or header_entity(c.column) or "PII"
            mode = c.mode if c.pii and c.mode else "identifier"
            targets.append(Target(c.column, entity, mode, plan.for_column(c.column, entity)))
    return targets


def transform_chunk(chunk: pd.DataFrame, targets: list[Target], analyzer: Analyzer,
                     plan: Plan, rep: Replacer, counts: Counter[str]) -> pd.DataFrame:
    drop = []
    for t in targets:
        if t.strategy is Strategy.drop and t.mode == "identifier":
            drop.append(t.column)
            counts[t.entity] += int(chunk[t.column].notna().sum())
            continue
        col = chunk[t.column]
        mask = col.notna() & (col.astype(str).str.strip() != "")
        values = col[mask].astype(str)
        if t.mode == "identifier":
            new = [rep(t.strategy, t.entity, v) for v in values]
            counts[t.entity] += len(new)
        else:
            new = [redact_string(v, analyzer, plan, rep, counts) for v in values]
        chunk[t.column] = col.astype(object)
        chunk.loc[mask, t.column] = new
    return chunk.drop(columns=drop)
