"""``cpmap privacy redact``: remove or pseudonymize PII in a text file or a table.

Tables: the input is scanned (sampled) to find its PII columns; then it is streamed chunk by
chunk and each identifier column is transformed whole (every value, not only the ones that
validated), while free-text columns get span-level redaction. Text files get span-level
redaction. The output is written atomically, registered through CP1 as a new dataset version
derived from the input (``transform("redact")``), re-scanned, and checked for any surviving
original value; the outcome is recorded as CP2 ``pii-redaction`` evidence.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cpmap.errors import InputError
from cpmap.privacy.detect import Analyzer
from cpmap.privacy.entities import DIRECT
from cpmap.privacy.plan import (
    Plan,
    Target,
    parse_overrides,
    redact_string,
    table_targets,
    transform_chunk,
)
from cpmap.privacy.transform import Replacer, Strategy
from cpmap.privacy.writers import TableWriter, TextWriter, check_output

if TYPE_CHECKING:
    from cpmap.core.evidence import Verdict
    from cpmap.core.workspace import Workspace

__all__ = ["Plan", "Target", "parse_overrides", "redact", "redact_string", "table_targets"]

MAX_SEEN = 100_000  # original values kept for the survival check of a text redaction


def redact_text_file(src: Path, out: Path, analyzer: Analyzer, plan: Plan, rep: Replacer,
                     chunk: int = 1 << 20) -> tuple[Counter[str], set[str]]:
    """Span-level redaction of a text file, streamed: the scanner's hits (character offsets)
    drive a second pass that copies the text with each span replaced."""
    import codecs

    from cpmap.privacy.scan import iter_text

    counts: Counter[str] = Counter()
    seen: set[str] = set()
    hits = (h for h in iter_text(src, analyzer, chunk) if plan.wants(h.entity))
    current = next(hits, None)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    writer = TextWriter(out)
    pos, pending = 0, ""  # pending: decoded text starting at character offset pos
    try:
        with src.open("rb") as fh:
            eof = False
            while not eof:
                raw = fh.read(chunk)
                eof = not raw
                pending += decoder.decode(raw, final=eof)
                while current is not None and current.end <= pos + len(pending):
                    writer.write(pending[:current.start - pos])
                    value = pending[current.start - pos:current.end - pos]
                    new = rep(plan.for_entity(current.entity), current.entity, value)
                    writer.write(new or "")
                    counts[current.entity] += 1
                    if len(seen) < MAX_SEEN:
                        seen.add(value)
                    pending, pos = pending[current.end - pos:], current.end
                    current = next(hits, None)
                keep = len(pending) if current is None else min(len(pending),
                                                                max(0, current.start - pos))
                writer.write(pending[:keep])
                pending, pos = pending[keep:], pos + keep
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return counts, seen


def redact_table_file(src: Path, out: Path, analyzer: Analyzer, plan: Plan, rep: Replacer,
                      sample_rows: int = 10_000, targets: list[Target] | None = None
                      ) -> tuple[list[Target], Counter[str]]:
    from cpmap.privacy.tabular import iter_chunks, table_format

    if targets is None:
        targets = table_targets(src, analyzer, plan, sample_rows)
    counts: Counter[str] = Counter()
    writer = TableWriter(out)
    # CSV cells are copied as text so that untouched columns keep their exact bytes (a ZIP code
    # "02134" must not become 2134); Parquet and JSON Lines keep their types.
    as_text = table_format(src) == "csv"
    try:
        for chunk in iter_chunks(src, as_text=as_text):
            writer.write(transform_chunk(chunk, targets, analyzer, plan, rep, counts))
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return targets, counts


def surviving_cells(src: Path, out: Path, targets: list[Target]) -> int:
    """Cells of redacted identifier columns whose output equals the input, row by row."""
    from cpmap.privacy.tabular import iter_chunks

    cols = [t.column for t in targets if t.mode == "identifier" and t.strategy is not
            Strategy.drop]
    if not cols:
        return 0
    same = 0
    for a, b in zip(iter_chunks(src, as_text=True), iter_chunks(out, as_text=True), strict=False):
        for c in cols:
            va, vb = a[c].reset_index(drop=True), b[c].reset_index(drop=True)
            same += int(((va == vb) & (va.str.strip().str.len() >= 4)).sum())
    return same


def surviving_text(out: Path, values: set[str]) -> int:
    """How many of the redacted spans' original values still occur in the output text."""
    values = {v for v in values if len(v) >= 4}
    if not values:
        return 0
    text = out.read_bytes().decode("utf-8", errors="replace")
    pattern = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))
    return len({m.group() for m in pattern.finditer(text)})


def input_dataset(ws: Workspace, src: Path, name: str | None) -> Any:
    """The CP1 dataset version of ``src``; registered now when it is not yet."""
    from cpmap.provenance.datasets import find_by_digest, register_dataset
    from cpmap.provenance.fingerprint import fingerprint

    found = find_by_digest(ws, fingerprint(src).digest)
    if found is not None:
        return found
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name or src.stem).strip("-.") or "data"
    return register_dataset(ws, stem[:200], src)


@dataclass(frozen=True)
class RedactResult:
    input: Path
    output: Path
    input_ref: str
    output_ref: str
    output_digest: str
    kind: str  # "text" or "table"
    targets: tuple[Target, ...]
    counts: dict[str, int]
    rescan_entities: dict[str, int]
    residual_values: int
    verdict: Verdict
    entry: int

    def to_dict(self) -> dict[str, Any]:
        return {"input": str(self.input), "output": str(self.output),
                "input_dataset": self.input_ref, "output_dataset": self.output_ref,
                "output_sha256": self.output_digest, "kind": self.kind,
                "columns": [{"column": t.column, "entity": t.entity, "mode": t.mode,
                             "strategy": t.strategy.value} for t in self.targets],
                "redacted": self.counts, "rescan_entities": self.rescan_entities,
                "residual_values": self.residual_values, "verdict": self.verdict.value,
                "entry": self.entry}


def redact(ws: Workspace, src: Path, out: Path, plan: Plan, analyzer: Analyzer, *,
           name: str | None = None, out_name: str | None = None,
           sample_rows: int = 10_000, engine: str = "local",
           scheduler: str | None = None) -> RedactResult:
    """Redact ``src`` into ``out``, register ``out`` as derived from ``src``, record evidence.

    ``engine="dask"`` transforms a Parquet table's row groups on Dask workers (a local
    cluster, or ``scheduler``); the output file holds the same rows as the local engine's and
    everything around the transformation is the same code."""
    from cpmap.privacy import keys
    from cpmap.privacy.scan import scan_path
    from cpmap.privacy.tabular import table_format
    from cpmap.provenance.lineage import transform

    if not src.is_file():
        raise InputError(f"{src}: " + ("is a directory, expected a file" if src.is_dir()
                                          else "no such file"))
    if out.resolve() == src.resolve():
        raise InputError(f"{out}: the output must not overwrite the input")
    check_output(out)
    if table_format(src) and table_format(out) is None:
        raise InputError(f"{out}: a table must be written as .csv, .tsv, .parquet or .jsonl")
    _check_engine(engine, scheduler, src, out)
    needs_aes = plan.default is Strategy.encrypt or Strategy.encrypt in (
        *plan.columns.values(), *plan.entities.values())
    # Bad columns or an unreadable table fail here, before anything is registered or written
    # (the keys too: a failed redaction must not leave a new HMAC key behind).
    targets = table_targets(src, analyzer, plan, sample_rows) if table_format(src) else []
    if table_format(src):
        _check_readable(src)
    rep = Replacer(keys.hmac_key(ws), keys.aes_key(ws) if needs_aes else None)
    source = input_dataset(ws, src, name)
    with transform("redact", inputs=[source], ws=ws, params={
            "default": plan.default.value, "direct_only": plan.direct_only,
            "columns": {c: s.value for c, s in plan.columns.items()},
            "entities": {e: s.value for e, s in plan.entities.items()}}) as t:
        if engine == "dask":
            from cpmap.privacy.distributed import redact_table_dask_file

            targets, counts = redact_table_dask_file(src, out, analyzer, plan, rep, targets,
                                                     scheduler=scheduler)
            residual = surviving_cells(src, out, targets)
        elif table_format(src):
            targets, counts = redact_table_file(src, out, analyzer, plan, rep, sample_rows,
                                                targets)
            residual = surviving_cells(src, out, targets)
        else:
            counts, seen = redact_text_file(src, out, analyzer, plan, rep)
            residual = surviving_text(out, seen)
        dv = t.output(out, name=out_name or f"{source.name}-redacted")
    rescan = scan_path(out, analyzer, sample_rows)
    return _record(ws, src, out, source, dv, targets, counts, rescan, residual, plan)


def _check_engine(engine: str, scheduler: str | None, src: Path, out: Path) -> None:
    from cpmap.privacy.tabular import table_format
    from cpmap.provenance.distributed import check_engine

    check_engine(engine, scheduler)
    if engine == "dask" and not (table_format(src) == table_format(out) == "parquet"):
        raise InputError(f"{src}: --engine dask redacts a Parquet table into a Parquet file "
                         "(its row groups are the partitions)")


def _check_readable(src: Path) -> None:
    """Read the whole table once: a row broken past the sample fails before the first write."""
    from cpmap.privacy.tabular import iter_chunks

    for _chunk in iter_chunks(src, as_text=True):
        pass


def _record(ws: Workspace, src: Path, out: Path, source: Any, dv: Any, targets: list[Target],
            counts: Counter[str], rescan: Any, residual: int, plan: Plan) -> RedactResult:
    from cpmap.core.evidence import Subject, Verdict
    from cpmap.privacy.policy import record_cp2
    from cpmap.privacy.predicates import PiiRedaction

    # Faked values look like PII by design: leave them out of the re-scan verdict.
    faked = {t.column for t in targets if t.strategy is Strategy.fake}
    if rescan.kind == "table":
        left = dict(Counter(c.entity for c in rescan.columns
                            if c.pii and c.entity and c.column not in faked))
    else:
        left = {e: n for e, n in rescan.entities.items()
                if plan.for_entity(e) is not Strategy.fake}
    direct_left = sorted(set(left) & DIRECT)
    verdict = Verdict.FAIL if residual or direct_left else Verdict.PASS
    kind = "table" if targets or rescan.kind == "table" else "text"
    entry = record_cp2(
        ws, PiiRedaction, [Subject(dv.ref, dv.digest), Subject(source.ref, source.digest)],
        verdict,
        metrics={"values_redacted": sum(counts.values()), "columns_redacted": len(targets),
                 "residual_values": residual, "rescan_direct_identifiers": len(direct_left)},
        details={"input": source.ref, "output": dv.ref, "redacted": dict(counts),
                 "columns": {t.column: t.strategy.value for t in targets},
                 "rescan_entities": left, "highlights": [
                     f"redacted {source.ref} -> {dv.ref}: {sum(counts.values())} values "
                     f"in {len(targets) or 'free-text'} column(s); re-scan: "
                     f"{', '.join(direct_left) or 'no direct identifiers'}; "
                     f"{residual} original values survive"]})
    return RedactResult(src, out, source.ref, dv.ref, dv.digest, kind, tuple(targets),
                        dict(counts), left, residual, verdict, entry.index)
