"""The ledger: an append-only transparency log of signed evidence (RFC 6962 Merkle tree).

Each append, in one store transaction that excludes every other writer: the envelope becomes
leaf ``size``, the persisted frontier gives the new root in O(log n), and a checkpoint for the
new size is signed (C2SP signed note) and stored. A process killed at any point either committed
all of that or none of it. After commit the checkpoint is also written to ``.cpmap/checkpoint``,
a witness outside the database that catches truncation of the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, inspect, select, update

from cpmap.core import dsse
from cpmap.core.checkpoint import Checkpoint, open_note
from cpmap.core.merkle import Frontier, MerkleTree, leaf_hash
from cpmap.core.store import (
    Store,
    ledger_checkpoints,
    ledger_entries,
    ledger_state,
    ledger_subjects,
    redact_url,
)
from cpmap.core.verify import Row, VerifyReport, export_lines, verify_rows
from cpmap.core.workspace import atomic_write
from cpmap.errors import InputError, LedgerError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


@dataclass(frozen=True)
class Entry:
    """One ledger entry and the signed checkpoint that first covered it."""

    index: int
    leaf_hash: bytes
    envelope: dsse.Envelope
    stored_at: str  # the store's created_at column: unsigned, for SQL queries only
    checkpoint: str = ""

    @cached_property
    def statement(self) -> dict[str, Any]:
        """The signed statement, parsed once (what every reader decides from)."""
        return self.envelope.statement()

    @property
    def created_at(self) -> str:
        """When the evidence was recorded, as its signed statement says (``timestamp``);
        empty for a statement without one. Never the store column, which anyone who can
        write to the store can edit."""
        value = self.predicate.get("timestamp")
        return value if isinstance(value, str) else ""

    @property
    def predicate(self) -> dict[str, Any]:
        value = self.statement.get("predicate", {})
        return value if isinstance(value, dict) else {}

    def summary(self) -> dict[str, Any]:
        st = self.statement
        pred = self.predicate
        return {
            "index": self.index,
            "created_at": self.created_at,
            "control": pred.get("control", ""),
            "kind": _short_kind(str(st.get("predicateType", ""))),
            "verdict": pred.get("verdict", ""),
            "subjects": [
                {"name": s.get("name"), "sha256": s.get("digest", {}).get("sha256")}
                for s in st.get("subject", [])
            ],
            "leaf_hash": self.leaf_hash.hex(),
        }


def _short_kind(predicate_type: str) -> str:
    return predicate_type.removeprefix("https://cpmap.dev/evidence/").removesuffix("/v1")


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    root: bytes
    path: list[bytes]
    checkpoint: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "tree_size": self.tree_size,
                "leaf_hash": self.leaf_hash.hex(), "root": self.root.hex(),
                "proof": [p.hex() for p in self.path], "checkpoint": self.checkpoint}


class Ledger:
    """The workspace's transparency log."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.store = workspace.store

    @property
    def origin(self) -> str:
        return self.ws.key_name

    # -- writing -------------------------------------------------------------------------

    def append(self, envelope: dsse.Envelope) -> Entry:
        """Append a signed envelope; return once it is durably committed."""
        with self.store.write() as conn:
            entry = self.append_in(conn, envelope)
        self.witness(entry)
        return entry

    def append_in(self, conn: Connection, envelope: dsse.Envelope) -> Entry:
        """Append inside the caller's write transaction (from ``store.write()``).

        Lets a control commit its own rows and the evidence about them atomically. The caller
        calls :meth:`witness` with the entry after the transaction commits.
        """
        data = envelope.to_json()
        leaf = leaf_hash(data)
        statement = envelope.statement()
        predicate = statement.get("predicate") or {}
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        frontier = _load_frontier(conn)
        if frontier.size:
            self._refuse_foreign(conn)
        index = frontier.size
        frontier.append(leaf)
        note = Checkpoint(self.origin, frontier.size, frontier.root()).sign(
            self.ws.signing_key, self.origin
        )
        conn.execute(insert(ledger_entries).values(
            idx=index, leaf_hash=leaf, envelope=data,
            control=str(predicate.get("control", ""))[:8],
            kind=str(statement.get("predicateType", ""))[:200],
            verdict=str(predicate.get("verdict", ""))[:16], created_at=now,
        ))
        subjects = [
            {"idx": index, "position": i, "name": str(s.get("name", "")),
             "digest": str(s.get("digest", {}).get("sha256", ""))}
            for i, s in enumerate(statement.get("subject", []))
        ]
        if subjects:
            conn.execute(insert(ledger_subjects), subjects)
        conn.execute(insert(ledger_checkpoints).values(size=frontier.size, note=note))
        _save_frontier(conn, frontier)
        return Entry(index, leaf, envelope, now, note)

    def _refuse_foreign(self, conn: Connection) -> None:
        """Refuse to append to a log that another workspace (another key or origin) signs:
        one store holds one log, and mixing two would break verification of both."""
        note = conn.execute(select(ledger_checkpoints.c.note)
                            .order_by(ledger_checkpoints.c.size.desc()).limit(1)).scalar()
        self.refuse_foreign_note(None if note is None else str(note))

    def refuse_foreign_note(self, note: str | None) -> None:
        """:meth:`_refuse_foreign` on the store's latest checkpoint note, already read."""
        found = None if note is None else foreign_log(note, self.ws)
        if found is not None:
            raise LedgerError(f"{redact_url(self.store.url)}: the store holds {found}; this "
                              f"workspace ({self.origin}, key {self.ws.public_key.keyid[:16]}) "
                              "refuses to write into another workspace's log",
                              hint="give each workspace its own database, or its own schema "
                                   "in this one ([store] schema = NAME, or `cpmap init --schema "
                                   "NAME`)")

    def witness(self, entry: Entry) -> None:
        """Advance the checkpoint witness file to the checkpoint that covers ``entry``."""
        self._witness(entry.checkpoint, entry.index + 1)

    def _witness(self, note: str, size: int) -> None:
        """Advance the checkpoint file outside the store (never move it backwards)."""
        path = self.ws.checkpoint_path
        current = read_witness_size(path)
        if current is None or size > current:
            atomic_write(path, note.encode())

    # -- reading -------------------------------------------------------------------------

    def size(self) -> int:
        with self.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(ledger_entries)).scalar_one())

    def latest_checkpoint(self) -> str | None:
        with self.store.read() as conn:
            row = conn.execute(
                select(ledger_checkpoints.c.note).order_by(ledger_checkpoints.c.size.desc()).limit(1)
            ).first()
        return None if row is None else str(row[0])

    def get(self, index: int) -> Entry:
        with self.store.read() as conn:
            row = conn.execute(select(ledger_entries).where(ledger_entries.c.idx == index)).first()
            if row is None:
                raise InputError(f"ledger index {index}: no such entry")
            note = conn.execute(select(ledger_checkpoints.c.note).where(  # first covering
                ledger_checkpoints.c.size > index).order_by(ledger_checkpoints.c.size)
                .limit(1)).scalar()
        return _row_entry(row, str(note or ""))

    def entries(self, *, control: str | None = None, digest: str | None = None,
                kind: str | None = None, start: int = 0) -> list[Entry]:
        """Entries in index order, optionally only one control's, one kind's or one subject's.

        The filters read each entry's signed statement, never the denormalised ``control`` /
        ``kind`` columns or the ``ledger_subjects`` index: a store writer without the key can
        edit those, and a narrowed selection would hide evidence (failing evidence from the
        gate, say). Those caches are checked against the log by ``cpmap ledger verify``.
        """
        out: list[Entry] = []
        last = start - 1
        while True:
            with self.store.read() as conn:
                rows = conn.execute(select(ledger_entries).where(ledger_entries.c.idx > last)
                                    .order_by(ledger_entries.c.idx).limit(5000)).all()
            if not rows:
                return out
            out += [e for e in map(_row_entry, rows) if _matches(e, control, digest, kind)]
            last = int(rows[-1].idx)

    def entries_at(self, indexes: Iterable[int]) -> list[Entry]:
        """The entries at these indexes, in index order (absent indexes are skipped)."""
        wanted = sorted(set(indexes))
        out: list[Entry] = []
        for lo in range(0, len(wanted), 500):
            with self.store.read() as conn:
                rows = conn.execute(select(ledger_entries).where(
                    ledger_entries.c.idx.in_(wanted[lo : lo + 500]))
                    .order_by(ledger_entries.c.idx)).all()
            out += map(_row_entry, rows)
        return out

    def iter_rows(self, batch: int = 5000) -> Iterator[tuple[int, bytes, bytes]]:
        """(index, stored leaf hash, envelope bytes) in index order, streamed in batches."""
        last = -1
        while True:
            with self.store.read() as conn:
                rows = conn.execute(
                    select(ledger_entries.c.idx, ledger_entries.c.leaf_hash,
                           ledger_entries.c.envelope)
                    .where(ledger_entries.c.idx > last).order_by(ledger_entries.c.idx).limit(batch)
                ).all()
            if not rows:
                return
            for r in rows:
                yield int(r[0]), bytes(r[1]), bytes(r[2])
            last = int(rows[-1][0])

    def checkpoints(self) -> dict[int, str]:
        with self.store.read() as conn:
            rows = conn.execute(select(ledger_checkpoints.c.size, ledger_checkpoints.c.note)).all()
        return {int(r[0]): str(r[1]) for r in rows}

    def leaf_hashes(self) -> list[bytes]:
        with self.store.read() as conn:
            rows = conn.execute(
                select(ledger_entries.c.leaf_hash).order_by(ledger_entries.c.idx)).all()
        return [bytes(r[0]) for r in rows]

    # -- proofs ----------------------------------------------------------------------------

    def inclusion_proof(self, index: int) -> InclusionProof:
        note = self.latest_checkpoint()
        if note is None:
            raise InputError("ledger is empty: no entry to prove")
        cp = open_note(note, self.ws.public_key, self.origin, "latest checkpoint")
        leaves = self.leaf_hashes()[: cp.size]
        if not 0 <= index < cp.size:
            raise InputError(f"ledger index {index}: out of range 0..{cp.size - 1}")
        tree = MerkleTree(leaves)
        return InclusionProof(index, cp.size, leaves[index], cp.root,
                              tree.inclusion_proof(index), note)

    def consistency_proof(self, old_size: int) -> tuple[Checkpoint, Checkpoint, list[bytes]]:
        notes = self.checkpoints()
        if not notes:
            raise InputError("ledger is empty: no checkpoint to prove")
        new = open_note(notes[max(notes)], self.ws.public_key, self.origin, "latest checkpoint")
        if old_size not in notes:
            raise InputError(f"no checkpoint at tree size {old_size}")
        old = open_note(notes[old_size], self.ws.public_key, self.origin, f"checkpoint {old_size}")
        tree = MerkleTree(self.leaf_hashes()[: new.size])
        return old, new, tree.consistency_proof(old.size, new.size)


def _row_entry(row: Any, note: str = "") -> Entry:
    try:
        envelope = dsse.parse_envelope(bytes(row.envelope), f"ledger index {row.idx}")
    except InputError as e:  # a stored entry is not input: an unreadable one was edited
        raise LedgerError(f"ledger index {row.idx}: entry is not a valid DSSE envelope "
                          "(edited)", index=int(row.idx)) from e
    return Entry(int(row.idx), bytes(row.leaf_hash), envelope, str(row.created_at), note)


def _matches(entry: Entry, control: str | None, digest: str | None, kind: str | None) -> bool:
    if not (control or digest or kind):
        return True
    st = entry.statement
    pred = entry.predicate
    if control and pred.get("control") != control:
        return False
    if kind and st.get("predicateType") != f"https://cpmap.dev/evidence/{kind}/v1":
        return False
    if digest:
        return any(isinstance(s, dict) and isinstance(s.get("digest"), dict)
                   and s["digest"].get("sha256") == digest for s in st.get("subject", []) or [])
    return True


def _load_frontier(conn: Connection) -> Frontier:
    row = conn.execute(select(ledger_state).where(ledger_state.c.id == 1)).first()
    if row is None:
        conn.execute(insert(ledger_state).values(id=1, size=0, frontier=b""))
        return Frontier()
    return frontier_of(int(row.size), bytes(row.frontier))


def frontier_of(size: int, blob: bytes) -> Frontier:
    """The frontier persisted in ``ledger_state`` (its hashes concatenated)."""
    try:
        return Frontier(size, [blob[i : i + 32] for i in range(0, len(blob), 32)])
    except ValueError as e:
        raise LedgerError("ledger state is corrupt: frontier does not match size") from e


def _save_frontier(conn: Connection, frontier: Frontier) -> None:
    conn.execute(update(ledger_state).where(ledger_state.c.id == 1).values(
        size=frontier.size, frontier=b"".join(frontier.hashes)))


def foreign_log(note: str, ws: Workspace) -> str | None:
    """None when ``note`` is this workspace's checkpoint, else what log it belongs to."""
    try:
        open_note(note, ws.public_key, ws.key_name, "latest checkpoint")
        return None
    except LedgerError:
        lines = note.split("\n")
        signers = sorted({ln.split(" ")[1] for ln in lines if ln.startswith("\u2014 ")
                          and len(ln.split(" ")) == 3})
        size = lines[1] if len(lines) > 1 else "?"
        return (f"the log of origin {lines[0]!r} ({size} entries, signed by "
                f"{', '.join(signers) or 'nobody'}), not signed by this workspace's key")


def store_log(ws: Workspace, store: Store | None = None) -> str | None:
    """What ``cpmap init`` reports: None for an empty store, else the log the store holds
    (``store``: another part of the database, e.g. the default schema beside the
    workspace's own; one without a ledger table holds no log)."""
    with (store or ws.store).read() as conn:
        if store is not None and not inspect(conn).has_table(ledger_checkpoints.name):
            return None
        note = conn.execute(select(ledger_checkpoints.c.note)
                            .order_by(ledger_checkpoints.c.size.desc()).limit(1)).scalar()
    if note is None:
        return None
    return foreign_log(str(note), ws) or "this workspace's own log"


def own_log(ws: Workspace) -> None:
    """Raise unless the store is empty or holds this workspace's own log.

    One store holds one log: a second workspace (another key) pointed at the same store has
    no log there. Its reads and verification say so, instead of reporting the other
    workspace's entries as forged (or showing them as its own)."""
    found = store_log(ws)
    if found is not None and found != "this workspace's own log":
        raise LedgerError(f"{redact_url(ws.store.url)}: the store holds {found}; this "
                          f"workspace ({ws.key_name}, key {ws.public_key.keyid[:16]}) has no "
                          "log in it and neither reads nor writes another workspace's log",
                          hint="give each workspace its own database, or its own schema in "
                               "this one ([store] schema = NAME, or `cpmap init --schema NAME`)")


def read_witness_size(path: Any) -> int | None:
    """Tree size in the checkpoint witness file, unverified (verification reads it properly)."""
    try:
        lines = path.read_text().split("\n")
        return int(lines[1])
    except (OSError, IndexError, ValueError):
        return None


def witness_ahead(ws: Workspace, size: int) -> int | None:
    """The witness's size when it covers more than ``size`` signed entries and the store, read
    now, still has no signed checkpoint that far (the log was truncated); else None.

    A reader whose snapshot began just before another writer committed sees a checkpoint
    smaller than the witness that writer then advanced: that is a race, not a truncation. So a
    witness ahead of the snapshot is checked again against the latest checkpoint read outside
    the snapshot (signature verified), and only a store still behind the witness is refused."""
    from cpmap.errors import Error

    witness = read_witness_size(ws.checkpoint_path)
    if witness is None or witness <= size:
        return None
    note = Ledger(ws).latest_checkpoint()
    if note is not None:
        try:
            if open_note(note, ws.public_key, ws.key_name, "latest checkpoint").size >= witness:
                return None
        except Error:
            return witness
    return witness


def verify_ledger(ledger: Ledger, all_signatures: bool = False) -> VerifyReport:
    """Verify the workspace ledger: envelopes, leaf hashes, every checkpoint and the witness.

    The tables derived from it are checked by :func:`cpmap.core.derived_tables.check_derived`
    (``cpmap ledger verify`` runs both)."""
    own_log(ledger.ws)
    path = ledger.ws.checkpoint_path
    try:  # undecodable bytes are a damaged witness: the note check below reports it
        witness = path.read_bytes().decode("utf-8", errors="replace") if path.exists() else None
    except OSError as e:
        raise LedgerError(f"{path}: cannot read the checkpoint witness: {e.strerror}") from e
    rows = (Row(i, data, leaf) for i, leaf, data in ledger.iter_rows())
    report = verify_rows(rows, ledger.checkpoints(), ledger.ws.public_key, ledger.origin,
                         witness, all_signatures)
    if witness is None and report.size:
        report.notes.append(f"no checkpoint witness at {path}: truncation of the store can only "
                            "be detected against a checkpoint kept elsewhere")
    return report


def export_ledger(ledger: Ledger, out: Path) -> int:
    """Write the ledger as JSON Lines that :func:`verify_export` checks with the public key."""
    notes = ledger.checkpoints()
    size = max(notes) if notes else 0
    header = {"origin": ledger.origin, "public_key": ledger.ws.public_key.pem().decode(),
              "size": size, "checkpoint": notes.get(size)}
    rows = ((i, data, notes.get(i + 1, "")) for i, _leaf, data in ledger.iter_rows())
    body = "\n".join(export_lines(header, rows)) + "\n"
    try:
        atomic_write(out, body.encode())
    except OSError as e:
        raise InputError(f"{out}: cannot write: {e.strerror}") from e
    return size
