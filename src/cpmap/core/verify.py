"""Ledger verification, shared by the store check and the auditor's export check.

One pass over the entries in index order: each envelope's signature, each stored leaf hash, and
the recomputed root against the signed checkpoint at every tree size (which is consistency with
every earlier checkpoint, checked directly rather than through proofs). Because a checkpoint is
signed at each append, the first mismatching size names the first bad entry exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpmap.core import dsse
from cpmap.core.checkpoint import Checkpoint, open_note
from cpmap.core.keys import PublicKey, parse_public_key
from cpmap.core.merkle import Frontier, leaf_hash
from cpmap.errors import InputError, LedgerError


@dataclass
class VerifyReport:
    size: int = 0
    checkpoints: int = 0
    root: str = ""
    witness_size: int | None = None
    notes: list[str] = field(default_factory=list)
    derived: dict[str, int] = field(default_factory=dict)  # table -> rows checked against it

    def to_dict(self) -> dict[str, Any]:
        return {"ok": True, "size": self.size, "checkpoints_verified": self.checkpoints,
                "root": self.root, "witness_size": self.witness_size, "notes": self.notes,
                "derived_rows_checked": self.derived}


@dataclass(frozen=True)
class Row:
    index: int
    data: bytes
    stored_leaf: bytes | None = None


def _bad(index: int, message: str) -> LedgerError:
    return LedgerError(f"ledger index {index}: {message}", index=index)


def verify_rows(
    rows: Iterable[Row],
    checkpoints: Mapping[int, str],
    key: PublicKey,
    origin: str,
    witness: str | None = None,
    all_signatures: bool = False,
) -> VerifyReport:
    """Verify a ledger given as rows and signed checkpoint notes; raise at the first bad index.

    Every envelope signature is verified. Each intermediate checkpoint's body must equal the
    recomputed (origin, size, root); its Ed25519 signature is verified only when the body does
    not match (to tell a forged checkpoint from a bad entry) or with ``all_signatures``. That
    is sound because the latest checkpoint's signature is always verified: once every root
    matches, each intermediate checkpoint is exactly the root of a prefix of the signed tree.
    """
    report = VerifyReport()
    frontier = Frontier()
    witness_cp = _open_witness(witness, key, origin)
    witness_root: bytes | None = None
    latest = max(checkpoints) if checkpoints else 0
    for row in rows:
        _check_row(row, frontier.size, key)
        frontier.append(leaf_hash(row.data))
        note = checkpoints.get(frontier.size)
        if note is not None:
            strict = all_signatures or frontier.size == latest
            _check_checkpoint(note, frontier, key, origin, row.index, strict)
            report.checkpoints += 1
        if witness_cp is not None and frontier.size == witness_cp.size:
            witness_root = frontier.root()
    _check_end(frontier.size, checkpoints)
    if witness_cp is not None:
        report.witness_size = witness_cp.size
        if witness_cp.size > frontier.size:
            raise _bad(frontier.size, f"log truncated: the checkpoint witness covers "
                       f"{witness_cp.size} entries, the log has {frontier.size}")
        if witness_root != witness_cp.root:
            raise _bad(witness_cp.size - 1, "tree differs from the checkpoint witness")
    report.size = frontier.size
    report.root = frontier.root().hex()
    return report


def _check_row(row: Row, expected: int, key: PublicKey) -> None:
    if row.index > expected:
        raise _bad(expected, "entry missing (deleted)")
    if row.index < expected:
        raise _bad(row.index, "entry duplicated or out of order (inserted or reordered)")
    if row.stored_leaf is not None and row.stored_leaf != leaf_hash(row.data):
        raise _bad(row.index, "entry does not match its leaf hash (edited)")
    try:
        envelope = dsse.parse_envelope(row.data, f"ledger index {row.index}")
    except InputError as e:
        raise _bad(row.index, "entry is not a valid DSSE envelope (edited)") from e
    if envelope.verified_by([key]) is None:
        raise _bad(row.index, "envelope signature does not verify (edited or forged)")


def _check_checkpoint(note: str, frontier: Frontier, key: PublicKey, origin: str,
                      index: int, strict: bool) -> None:
    expected = Checkpoint(origin, frontier.size, frontier.root()).body()
    if not strict and note.startswith(expected + "\n"):
        return
    try:
        cp = open_note(note, key, origin, f"checkpoint at size {frontier.size}")
    except LedgerError as e:
        raise _bad(index, e.message) from e
    if cp.size != frontier.size or cp.root != frontier.root():
        raise _bad(index, f"tree root differs from the signed checkpoint at size {frontier.size} "
                   "(entries edited, inserted, reordered or replaced)")


def _check_end(size: int, checkpoints: Mapping[int, str]) -> None:
    if not checkpoints:
        if size:
            raise _bad(0, "no signed checkpoint covers the log")
        return
    latest = max(checkpoints)
    if latest > size:
        raise _bad(size, f"log truncated: a signed checkpoint covers {latest} entries, "
                   f"the log has {size}")
    if size > latest:
        raise _bad(latest, "entry not covered by any signed checkpoint (inserted)")


def _open_witness(note: str | None, key: PublicKey, origin: str) -> Checkpoint | None:
    if note is None:
        return None
    return open_note(note, key, origin, "checkpoint witness")


# -- exports -------------------------------------------------------------------------------

EXPORT_FORMAT = "cpmap-ledger-export/v1"


def export_lines(header: dict[str, Any], rows: Iterable[tuple[int, bytes, str]]) -> Iterator[str]:
    """JSON Lines of an export: a header, then one line per entry with its checkpoint."""
    yield json.dumps({"type": "header", "format": EXPORT_FORMAT, **header}, sort_keys=True)
    for index, data, note in rows:
        yield json.dumps({"type": "entry", "index": index, "envelope": json.loads(data),
                          "checkpoint": note}, sort_keys=True)


def verify_export(path: Path, key: PublicKey, all_signatures: bool = False) -> VerifyReport:
    """Verify an export file with nothing but the signer's public key."""
    try:
        fh = path.open("rb")
    except OSError as e:
        raise InputError(f"{path}: cannot read export: {e.strerror}") from e
    with fh:
        header = _read_header(path, fh.readline())
        origin = str(header.get("origin", ""))
        checkpoints: dict[int, str] = {}
        rows = _export_rows(fh, checkpoints)
        header_pub = header.get("public_key")
        if isinstance(header_pub, str):
            signer = parse_public_key(header_pub.encode(), f"{path}: header public_key")
            if signer.keyid != key.keyid:
                raise LedgerError(f"{path}: export was signed by key {signer.keyid[:16]}, "
                                  f"not by the given key {key.keyid[:16]}")
        report = verify_rows(rows, checkpoints, key, origin, witness=header.get("checkpoint"),
                             all_signatures=all_signatures)
    report.notes.append(f"verified {path} with key {key.keyid[:16]} only")
    return report


def _read_header(path: Path, line: bytes) -> dict[str, Any]:
    # a file that is not an export at all is bad input (exit 2), not a failed verification
    try:
        header = json.loads(line)
    except (ValueError, RecursionError) as e:
        raise InputError(f"{path}: first line is not a cpmap ledger export header") from e
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        raise InputError(f"{path}: not a {EXPORT_FORMAT} file")
    if not isinstance(header.get("checkpoint"), str | None):
        raise LedgerError(f"{path}: header checkpoint is not a signed note (edited)")
    return header


def _export_rows(lines: Iterable[bytes], checkpoints: dict[int, str]) -> Iterator[Row]:
    position = 0
    for raw in lines:
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            index = int(obj["index"])
            data = dsse.parse_envelope(obj["envelope"], "export").to_json()
            note = obj.get("checkpoint")
        except (ValueError, KeyError, TypeError, InputError, RecursionError) as e:
            raise _bad(position, "export line is malformed (edited)") from e
        if isinstance(note, str) and note:
            checkpoints[index + 1] = note
        position = index + 1
        yield Row(index, data)
