"""Verified reads: the ledger's signed entries, and store rows checked against them.

Anyone who can write to the store but does not hold the signing key (a database administrator,
another service on the same PostgreSQL, a restored backup) can edit any table. Only the ledger
resists that: its envelopes are signed and every append signs a checkpoint over the Merkle root.
So what decides an outcome is read here, through :class:`SignedLog`: the entries whose leaf
hashes rebuild the root of the latest signed checkpoint (and do not fall behind the checkpoint
witness), with the signature of every entry a decision uses checked as well. The tables that
serve lookups (``trusted_pickles``, ``model_aliases``...) are caches: each row carries the index
of the entry that made it, or the state is folded from the entries, and :meth:`SignedLog.entry`
checks a row against that entry's signed payload. A mismatch is an :class:`IntegrityError`
naming the table and the row (exit 1), never a silent pass.
"""

from __future__ import annotations

import base64
import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from cpmap.core import dsse
from cpmap.core.checkpoint import open_note
from cpmap.core.merkle import EMPTY_ROOT, Frontier, leaf_hash
from cpmap.core.store import ledger_checkpoints, ledger_entries
from cpmap.errors import InputError, LedgerError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

PREFIX = "https://cpmap.dev/evidence/"


class IntegrityError(LedgerError):
    """A store row that the signed ledger does not back (edited, inserted or deleted)."""


def row_error(table: str, row: str, message: str) -> IntegrityError:
    return IntegrityError(f"store table {table} row {row}: {message}",
                          hint="the store was changed without the signing key; "
                               "`cpmap ledger verify` lists every derived table")


def short_kind(predicate_type: str) -> str:
    return predicate_type.removeprefix(PREFIX).removesuffix("/v1")


@dataclass(frozen=True)
class SignedEntry:
    """One ledger entry as its signed statement says (never as the denormalised columns do)."""

    index: int
    envelope: dsse.Envelope
    statement: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return short_kind(str(self.statement.get("predicateType", "")))

    @property
    def predicate(self) -> Mapping[str, Any]:
        value = self.statement.get("predicate")
        return value if isinstance(value, dict) else {}

    @property
    def control(self) -> str:
        return str(self.predicate.get("control", ""))

    @property
    def verdict(self) -> str:
        return str(self.predicate.get("verdict", ""))

    @property
    def details(self) -> Mapping[str, Any]:
        value = self.predicate.get("details")
        return value if isinstance(value, dict) else {}

    @property
    def metrics(self) -> Mapping[str, Any]:
        value = self.predicate.get("metrics")
        return value if isinstance(value, dict) else {}

    @property
    def subjects(self) -> list[tuple[str, str]]:
        """(name, sha256) of each subject, in the signed order."""
        out = []
        for s in self.statement.get("subject", []) or []:
            if isinstance(s, dict):
                digest = s.get("digest")
                sha = digest.get("sha256", "") if isinstance(digest, dict) else ""
                out.append((str(s.get("name", "")), str(sha)))
        return out

    @property
    def digests(self) -> set[str]:
        return {d for _, d in self.subjects}


@dataclass
class SignedLog:
    """The ledger up to its latest signed checkpoint, every leaf checked against the root.

    Envelopes are parsed when a reader asks for them (:meth:`get`, :meth:`of_kind`): the root
    check already proves every stored envelope is the one the key holder appended, so a kind's
    entries are found by a raw search (:func:`mentioning`) instead of parsing the whole log.
    """

    ws: Workspace
    raw: list[bytes]
    size: int
    intact: bool = True  # False only for a lenient load of a log that fails the root check
    _parsed: dict[int, SignedEntry] = field(default_factory=dict)
    _checked: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, ws: Workspace, conn: Connection | None = None, *,
             strict: bool = True) -> SignedLog:
        """Read and check the whole log (in ``conn``'s transaction when given).

        ``strict=False`` is for a reader that reports a damaged log in its own way (the gate
        marks tampered evidence per control): a log whose stored envelopes do not rebuild the
        signed root is then still read, every entry parsed and only entries whose own
        signature verifies used (:meth:`of_kind`), instead of raising."""
        if conn is not None:
            return cls._load(ws, conn, strict)
        with ws.store.read() as c:
            return cls._load(ws, c, strict)

    @classmethod
    def _load(cls, ws: Workspace, conn: Connection, strict: bool = True) -> SignedLog:
        rows = [(int(i), b"", bytes(d)) for i, d in conn.execute(
            select(ledger_entries.c.idx, ledger_entries.c.envelope).order_by(ledger_entries.c.idx))]
        try:
            size = cls._check_root(ws, conn, rows)
        except LedgerError:
            if strict:
                raise
            return cls(ws, [r[2] for r in rows], len(rows), intact=False)
        return cls(ws, [r[2] for r in rows], size)

    @staticmethod
    def _check_root(ws: Workspace, conn: Connection, rows: list[tuple[int, bytes, bytes]]
                    ) -> int:
        """The signed size, once ``rows`` rebuild the latest signed checkpoint's root and the
        witness does not say the log was longer; raise otherwise."""
        from cpmap.core.ledger import witness_ahead

        note = conn.execute(select(ledger_checkpoints.c.note)
                            .order_by(ledger_checkpoints.c.size.desc()).limit(1)).scalar()
        size, root = 0, EMPTY_ROOT
        if note is not None:
            cp = open_note(str(note), ws.public_key, ws.key_name, "latest checkpoint")
            size, root = cp.size, cp.root
        witness = witness_ahead(ws, size)
        if witness is not None:
            raise LedgerError(f"ledger truncated: the checkpoint witness covers {witness} "
                              f"entries, the latest signed checkpoint {size}")
        if not log_intact(rows, size, root):
            raise row_error("ledger_entries", f"0..{len(rows) - 1}",
                            f"the log of {len(rows)} entries does not match the signed "
                            f"checkpoint of size {size} (`cpmap ledger verify` names the entry)")
        return size

    def get(self, index: int) -> SignedEntry | None:
        if not 0 <= index < len(self.raw):
            return None
        if index not in self._parsed:
            self._parsed[index] = _parse(index, self.raw[index])
        return self._parsed[index]

    def all(self) -> list[SignedEntry]:
        return [e for i in range(len(self.raw)) if (e := self.get(i)) is not None]

    def of_kind(self, *kinds: str) -> list[SignedEntry]:
        """Entries of these kinds (from the signed statement), signatures checked."""
        if not self.intact:  # no raw search: keep each parseable entry whose signature verifies
            return [e for i in range(len(self.raw)) if (e := self._lenient(i)) is not None
                    and e.kind in kinds]
        maybe = mentioning(self.raw, [f"{PREFIX}{k}/v1" for k in kinds])
        found = [e for i in sorted(maybe) if (e := self.get(i)) is not None and e.kind in kinds]
        for e in found:
            self._signed(e, "ledger_entries", str(e.index))
        return found

    def _lenient(self, index: int) -> SignedEntry | None:
        try:
            e = self.get(index)
            return None if e is None else self._signed(e, "ledger_entries", str(index))
        except IntegrityError:
            return None

    def entry(self, table: str, row: str, index: Any, kinds: Iterable[str]) -> SignedEntry:
        """The signed entry that a row of ``table`` says made it, of one of ``kinds``."""
        e = self.get(int(index)) if isinstance(index, int) else None
        kinds = tuple(kinds)
        if e is None:
            raise row_error(table, row, f"names ledger entry {index!r}, which the signed log "
                            "does not hold (inserted)")
        if e.kind not in kinds:
            raise row_error(table, row, f"names ledger entry #{e.index}, a {e.kind!r} entry, "
                            f"not {' or '.join(kinds)} (inserted or repointed)")
        return self._signed(e, table, row)

    def _signed(self, e: SignedEntry, table: str, row: str) -> SignedEntry:
        if e.index not in self._checked:
            if e.envelope.verified_by([self.ws.public_key]) is None:
                raise row_error(table, row, f"ledger entry #{e.index}: signature does not verify")
            self._checked.add(e.index)
        return e


def _parse(index: int, data: bytes) -> SignedEntry:
    try:
        envelope = dsse.parse_envelope(data, f"ledger index {index}")
        return SignedEntry(index, envelope, envelope.statement())
    except InputError as e:
        raise row_error("ledger_entries", str(index), "not a valid DSSE envelope (edited)") from e


def log_intact(rows: Sequence[tuple[int, bytes, bytes]], size: int, root: bytes) -> bool:
    """Whether ``rows`` (index, stored leaf, envelope) are exactly the log the signed
    checkpoint (``size``, ``root``) covers: leaf hashes recomputed from the envelopes."""
    if len(rows) != size:
        return False
    frontier = Frontier()
    for expected, (index, _leaf, data) in enumerate(rows):
        if index != expected:
            return False
        frontier.append(leaf_hash(data))
    return frontier.root() == root


def mentioning(envelopes: Sequence[bytes], needles: Iterable[str]) -> set[int]:
    """Positions of the envelopes whose payload may contain one of ``needles`` (no false
    negatives, some false positives: parse the candidates).

    A string inside a base64 payload appears in the encoding, for one of the three byte
    alignments, as the encoding of its aligned middle; so the three encodings of each needle
    are searched in the raw envelope bytes, without decoding any. Sound only for envelopes as
    ``Envelope.to_json`` writes them (standard base64, nothing escaped) holding canonical JSON:
    establish first, with :func:`log_intact`, that the envelopes are the signed log's.
    """
    patterns = set()
    for needle in needles:
        raw = needle.encode()
        for k in range(3):
            body = raw[k : k + 3 * ((len(raw) - k) // 3)]
            if len(body) >= 3:
                patterns.add(base64.b64encode(body))
    blob = b"\n".join(envelopes)
    starts = list(itertools.accumulate((len(e) + 1 for e in envelopes), initial=0))
    found: set[int] = set()
    for pattern in patterns:
        at = blob.find(pattern)
        while at >= 0:
            pos = bisect.bisect_right(starts, at) - 1
            found.add(pos)
            at = blob.find(pattern, starts[pos + 1])
    return found


def mismatch(table: str, row: str, entry: SignedEntry, fields: Mapping[str, tuple[Any, Any]]
             ) -> None:
    """Raise naming the first field whose row value differs from the signed value."""
    for name, (stored, signed) in fields.items():
        if stored != signed:
            raise row_error(table, row, f"{name} is {stored!r}, ledger entry #{entry.index} "
                            f"signed {signed!r} (edited)")
