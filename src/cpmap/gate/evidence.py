"""The gate's view of the ledger: evidence about a set of digests, each entry verified.

An entry counts only if its DSSE signature verifies with the workspace key, its leaf hash is
the hash of its envelope, and an RFC 6962 inclusion proof places it under the latest signed
checkpoint. Anything else is reported as tampered evidence, which fails its control.

Entries are selected by the subjects their signed statements name, not through the
``ledger_subjects`` index (a store writer could narrow the selection by editing it, hiding a
failing entry); the index rows for the digests in scope are compared with those signed subjects
and a mismatch is an integrity error naming the row (exit 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cpmap.controls import read_predicate
from cpmap.core import merkle
from cpmap.core.checkpoint import Checkpoint, open_note
from cpmap.core.derived import compare_subjects
from cpmap.core.ledger import Entry, Ledger, witness_ahead
from cpmap.core.verified import log_intact, mentioning
from cpmap.errors import Error
from cpmap.gate.kit import Item

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


@dataclass(frozen=True)
class LedgerView:
    checkpoint: Checkpoint | None
    problem: str | None
    items: tuple[Item, ...]


def item_of(entry: Entry, problem: str | None = None) -> Item:
    """An entry as the gate and the report see it: its typed predicate, read from the signed
    envelope (``problem``: why it failed verification, if it did)."""
    st = entry.statement
    pred = entry.predicate
    subjects = {str(s.get("digest", {}).get("sha256", "")): str(s.get("name", ""))
                for s in st.get("subject", []) if isinstance(s, dict)}
    kind = str(entry.summary()["kind"])
    return Item(entry.index, str(pred.get("control", "")), kind, entry.created_at, subjects,
                read_predicate(kind, pred), problem)


def collect(ws: Workspace, digests: Iterable[str]) -> LedgerView:
    """Every ledger entry about any of ``digests``, verified against the signed checkpoint."""
    ledger = Ledger(ws)
    scope = set(digests)
    note = ledger.latest_checkpoint()
    cp: Checkpoint | None = None
    problem = None
    if note is not None:
        try:
            cp = open_note(note, ws.public_key, ledger.origin, "latest checkpoint")
        except Error as e:
            problem = e.message
    witness = witness_ahead(ws, cp.size) if cp is not None else None
    if cp is not None and witness is not None:
        problem = (f"ledger truncated: the checkpoint witness covers {witness} entries, "
                   f"the signed checkpoint {cp.size}")
    every, read = _about(ledger, cp, scope)
    found = {e.index: e for e in every if scope & _digests(e)}
    # entries appended after the log was read (a gateway's alert worker writing meanwhile) are
    # not "inserted" index rows: compare only the part of the log this view read
    compare_subjects(ws, {e.index: _subjects(e) for e in every}, scope, below=read)
    tree = merkle.MerkleTree(ledger.leaf_hashes()[: cp.size]) if cp is not None else None
    items = tuple(item_of(e, problem or _check(e, ws, cp, tree))
                  for _, e in sorted(found.items()))
    return LedgerView(cp, problem, items)


def _about(ledger: Ledger, cp: Checkpoint | None, scope: set[str]) -> tuple[list[Entry], int]:
    """Entries whose signed statements may name a digest of ``scope`` (a superset of them),
    and the size of the log they were read from.

    When the stored envelopes rebuild the signed root, they are the log the key holder wrote,
    so a raw search of their base64 payloads finds every candidate without parsing the others;
    otherwise every entry is parsed (and the gate's per-entry checks flag what was changed).
    """
    rows = list(ledger.iter_rows())
    if cp is not None and log_intact(rows, cp.size, cp.root):
        return (ledger.entries_at(rows[i][0] for i in mentioning([r[2] for r in rows], scope)),
                len(rows))
    every = ledger.entries()
    return every, max((e.index + 1 for e in every), default=0)


def _subjects(entry: Entry) -> list[tuple[str, str]]:
    return [(str(s.get("name", "")), str((s.get("digest") or {}).get("sha256", "")))
            for s in entry.statement.get("subject", []) or [] if isinstance(s, dict)]


def _digests(entry: Entry) -> set[str]:
    return {d for _, d in _subjects(entry)}


def _check(entry: Entry, ws: Workspace, cp: Checkpoint | None,
           tree: merkle.MerkleTree | None) -> str | None:
    if entry.envelope.verified_by([ws.public_key]) is None:
        return f"evidence #{entry.index}: signature does not verify"
    if merkle.leaf_hash(entry.envelope.to_json()) != entry.leaf_hash:
        return f"evidence #{entry.index}: envelope does not match its ledger leaf"
    if cp is None or tree is None or entry.index >= cp.size:
        return f"evidence #{entry.index}: not covered by a signed checkpoint"
    proof = tree.inclusion_proof(entry.index)
    if not merkle.verify_inclusion(entry.leaf_hash, entry.index, cp.size, proof, cp.root):
        return f"evidence #{entry.index}: inclusion proof fails against the signed checkpoint"
    return None
