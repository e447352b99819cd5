"""What a model-file scan says: a verdict per file, and the reasons that led to it.

A verdict is the worst of its reasons: one known code-execution primitive makes a file
``malicious``; anything the allowlist does not vouch for (an unknown import, a custom Keras
object, a malformed header) makes it ``suspicious``; a file is ``safe`` only when every construct
in it is known to be harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ModelVerdict(StrEnum):
    SAFE = "safe"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"

    @property
    def rank(self) -> int:
        return {"safe": 0, "suspicious": 1, "malicious": 2}[self.value]


@dataclass(frozen=True)
class Reason:
    """One observation: its verdict level, a stable code, a message, and where in the file."""

    verdict: ModelVerdict
    code: str
    message: str
    where: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verdict": self.verdict.value, "code": self.code,
                               "message": self.message}
        if self.where:
            out["where"] = self.where
        return out


@dataclass(frozen=True)
class FileReport:
    """The scan of one file: its detected format, verdict, reasons and the imports it names."""

    path: str
    format: str
    verdict: ModelVerdict
    reasons: tuple[Reason, ...] = ()
    globals: tuple[str, ...] = ()
    size: int = 0
    bytes_read: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "verdict": self.verdict.value,
                "reasons": [r.to_dict() for r in self.reasons], "globals": list(self.globals),
                "size": self.size, "bytes_read": self.bytes_read}


@dataclass
class Collector:
    """Mutable accumulator used while scanning one file; frozen into a FileReport at the end."""

    reasons: list[Reason] = field(default_factory=list)
    globals: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    _seen: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, verdict: ModelVerdict, code: str, message: str, where: str = "") -> None:
        key = (code, message, where)
        if key not in self._seen:
            self._seen.add(key)
            self.reasons.append(Reason(verdict, code, message, where))

    def note_global(self, qualified: str) -> None:
        if qualified not in self.globals:
            self.globals.append(qualified)

    def verdict(self) -> ModelVerdict:
        worst = ModelVerdict.SAFE
        for r in self.reasons:
            if r.verdict.rank > worst.rank:
                worst = r.verdict
        return worst

    def report(self, path: str, fmt: str, size: int, bytes_read: int) -> FileReport:
        ordered = sorted(self.reasons, key=lambda r: -r.verdict.rank)
        return FileReport(path, fmt, self.verdict(), tuple(ordered), tuple(self.globals), size,
                          bytes_read)


@dataclass(frozen=True)
class Unclassified:
    """A file a directory scan found but could not recognise as a model file (not scanned)."""

    path: str
    size: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "reason": self.reason}


@dataclass(frozen=True)
class PathScan:
    """What a scan of files and directories found: the model files, and everything else."""

    reports: tuple[FileReport, ...]
    unclassified: tuple[Unclassified, ...] = ()
