"""``cpmap privacy scan``: PII in text files and tables, as findings.

Text is streamed in chunks with an overlap, so a multi-GB log is scanned in bounded memory and
a match that straddles two chunks is found exactly once, with character offsets into the whole
file. Tables (CSV, Parquet, JSON Lines) are sampled while streamed and classified per column
(:mod:`cpmap.privacy.columns`). No output ever holds a detected value: text findings carry a
snippet in which every detected span is replaced by ``<ENTITY>``.
"""

from __future__ import annotations

import codecs
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpmap.core.findings import Finding, Location
from cpmap.core.tags import Atlas, OwaspLLM, OwaspML
from cpmap.errors import InputError
from cpmap.privacy.columns import ColumnResult, classify
from cpmap.privacy.detect import Analyzer, redacted_snippet
from cpmap.privacy.entities import SEVERITY
from cpmap.privacy.tabular import sample, table_format

CHUNK_CHARS = 1 << 20
OVERLAP = 256  # longer than any entity: a match starting before the cut is whole
LEFT = 64  # context kept left of the cut, for lookbehinds and context words
TAGS = (Atlas.T0057, OwaspLLM.LLM02,
        OwaspML.ML03)


@dataclass(frozen=True)
class TextHit:
    entity: str
    start: int
    end: int
    line: int
    column: int
    score: float
    snippet: str


@dataclass(frozen=True)
class FileResult:
    path: str
    kind: str  # "text" or "table"
    sha256: str
    size: int
    hits: tuple[TextHit, ...] = ()
    hit_counts: dict[str, int] = field(default_factory=dict)
    columns: tuple[ColumnResult, ...] = ()
    rows_total: int = 0
    rows_sampled: int = 0
    truncated: bool = False

    @property
    def entities(self) -> dict[str, int]:
        if self.kind == "text":
            return dict(self.hit_counts)
        return dict(Counter(c.entity for c in self.columns if c.pii and c.entity))

    @property
    def pii(self) -> bool:
        return bool(self.entities)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "kind": self.kind, "sha256": self.sha256,
                               "bytes": self.size, "pii": self.pii, "entities": self.entities}
        if self.kind == "text":
            out["findings"] = [{"path": self.path, **h.__dict__} for h in self.hits]
            out["truncated"] = self.truncated
        else:
            out.update(rows=self.rows_total, rows_sampled=self.rows_sampled,
                       columns=[c.to_dict() for c in self.columns])
        return out


def _sha256(path: Path) -> tuple[str, int]:
    from cpmap.provenance.fingerprint import hash_file

    return hash_file(path)


def iter_text(path: Path, analyzer: Analyzer, chunk: int = CHUNK_CHARS,
              progress: Callable[[int], None] | None = None) -> Iterator[TextHit]:
    """Every PII span in a UTF-8 text file (invalid bytes are replaced), streamed."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    buf, base, lo, line, line_pos = "", 0, 0, 1, 0
    # (base: file offset of buf[0]; lo: first buf index whose matches are ours; line: line
    # number at buf[line_pos])
    with path.open("rb") as fh:
        eof = False
        while not eof:
            raw = fh.read(chunk)
            eof = not raw
            if progress is not None:
                progress(len(raw))
            buf += decoder.decode(raw, final=eof)
            if not eof and len(buf) < chunk // 2:
                continue
            hi = len(buf) if eof else len(buf) - OVERLAP
            matches = analyzer.analyze(buf)
            for m in matches:
                if lo <= m.start < hi:
                    line += buf.count("\n", line_pos, m.start)
                    line_pos = m.start
                    col = m.start - (buf.rfind("\n", 0, m.start) + 1)
                    yield TextHit(m.entity, base + m.start, base + m.end, line, col + 1,
                                  m.score, redacted_snippet(buf, m, matches))
            cut = max(hi - LEFT, 0)
            line += buf.count("\n", line_pos, cut)
            buf, base, lo, line_pos = buf[cut:], base + cut, hi - cut, 0


def scan_text(path: Path, analyzer: Analyzer, max_hits: int = 1000,
              progress: Callable[[int], None] | None = None) -> FileResult:
    digest, size = _sha256(path)
    hits: list[TextHit] = []
    counts: Counter[str] = Counter()
    try:
        for hit in iter_text(path, analyzer, progress=progress):
            counts[hit.entity] += 1
            if len(hits) < max_hits:
                hits.append(hit)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from e
    return FileResult(str(path), "text", digest, size, tuple(hits), dict(counts),
                      truncated=sum(counts.values()) > len(hits))


def scan_table(path: Path, analyzer: Analyzer, sample_rows: int = 10_000,
               seed: int = 0) -> FileResult:
    digest, size = _sha256(path)
    frame, total = sample(path, sample_rows, seed)
    columns = tuple(classify(str(c), frame[c], analyzer) for c in frame.columns)
    return FileResult(str(path), "table", digest, size, columns=columns, rows_total=total,
                      rows_sampled=len(frame))


def scan_path(path: Path, analyzer: Analyzer, sample_rows: int = 10_000,
              max_hits: int = 1000, progress: Callable[[int], None] | None = None
              ) -> FileResult:
    if not path.is_file():
        raise InputError(f"{path}: " + ("is a directory, expected a file" if path.is_dir()
                                          else "no such file"))
    if table_format(path):
        result = scan_table(path, analyzer, sample_rows)
        if progress is not None:
            progress(result.size)
        return result
    return scan_text(path, analyzer, max_hits, progress)


def expand(paths: list[Path]) -> list[Path]:
    """Files named, and the files under directories named (hidden ones skipped)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file()
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not found:
                raise InputError(f"{p}: directory holds no file to scan")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise InputError(f"{p}: no such file or directory")
    return out


def findings(result: FileResult) -> list[Finding]:
    """One finding per text span, or per PII column of a table."""
    out = [Finding(
        f"CP2-PII-{h.entity}", SEVERITY.get(h.entity, SEVERITY["PERSON"]),
        f"{h.entity} (score {h.score:.2f}): {h.snippet}", Location(result.path, h.line, h.column),
        "Redact or pseudonymize before the data is used for training: cpmap privacy redact",
        TAGS, {"entity": h.entity, "start": h.start, "end": h.end, "score": h.score,
               "snippet": h.snippet}) for h in result.hits]
    for c in result.columns:
        if not c.pii or c.entity is None:
            continue
        out.append(Finding(
            f"CP2-PII-{c.entity}", SEVERITY.get(c.entity, SEVERITY["PERSON"]),
            f"column {c.column!r}: {c.entity} in {c.share:.0%} of {c.rows} sampled rows "
            f"({c.reason})", Location(result.path, field=c.column),
            f"cpmap privacy redact {result.path} --column {c.column}=hash (or mask, fake, "
            "drop, encrypt)", TAGS, c.to_dict()))
    return out


def make_analyzer(backend: str = "cpmap", entities: frozenset[str] | None = None,
                  model: str | None = None, phone_regions: tuple[str, ...] | None = None
                  ) -> Analyzer:
    """Our engine (``cpmap``) or Presidio (``presidio``, optional extra).

    ``phone_regions`` (``[privacy] phone_regions``) are the countries whose national-format
    phone numbers our engine looks for; None: the default list."""
    if backend == "cpmap":
        from cpmap.privacy.detect import RegexAnalyzer
        from cpmap.privacy.phones import DEFAULT_REGIONS

        return RegexAnalyzer(entities, phone_regions=phone_regions or DEFAULT_REGIONS)
    if backend == "presidio":
        from cpmap.privacy.presidio_backend import PresidioAnalyzer

        return PresidioAnalyzer(entities, model)
    raise InputError(f"--backend {backend}: use cpmap or presidio")


def verdict_of(results: list[FileResult], fail_on: str = "direct") -> str:
    """``fail`` on direct identifiers (or any PII with fail_on="any"), ``warn`` on others."""
    from cpmap.privacy.entities import DIRECT

    found = {e for r in results for e in r.entities}
    if not found:
        return "pass"
    if fail_on == "any" or found & DIRECT:
        return "fail"
    return "warn"


def record_scan(ws: Any, results: list[FileResult], backend: str, fail_on: str) -> int:
    """Record CP2 ``pii-scan`` evidence about every scanned file; return the ledger index."""
    from cpmap.core.evidence import Subject, Verdict
    from cpmap.privacy.policy import record_cp2
    from cpmap.privacy.predicates import PiiScan

    all_findings = [f for r in results for f in findings(r)]
    entities: Counter[str] = Counter()
    for r in results:
        entities.update(r.entities)
    verdict = verdict_of(results, fail_on)
    pii_files = [r for r in results if r.pii]
    columns = [f"{Path(r.path).name}:{c.column}={c.entity}" for r in results for c in r.columns
               if c.pii]
    highlights = [f"PII scan ({backend}) of {len(results)} file(s): "
                  f"{len(pii_files)} with PII" + (f"; columns {', '.join(columns[:8])}"
                                                    if columns else "")]
    entry = record_cp2(
        ws, PiiScan, [Subject(Path(r.path).name, r.sha256) for r in results],
        Verdict(verdict),
        metrics={"files": len(results), "files_with_pii": len(pii_files),
                 "pii_columns": len(columns),
                 "text_hits": sum(sum(r.hit_counts.values()) for r in results),
                 "direct_identifiers": verdict == "fail"},
        findings=all_findings,
        details={"backend": backend, "entities": dict(entities), "highlights": highlights,
                 "files": [{"path": r.path, "sha256": r.sha256, "entities": r.entities}
                           for r in results]})
    return entry.index
