"""The ledger's own derived data: the denormalised columns and the subject index.

``ledger_entries.control/kind/verdict`` and ``ledger_subjects`` are written with each entry so
that an operator can query the store with SQL. Nothing in cpmap decides from them (readers take
the signed statement), but an edited index is still a sign that someone wrote to the store
without the key, so the gate and ``cpmap ledger verify`` check them against the signed log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select

from cpmap.core.store import ledger_entries, ledger_subjects
from cpmap.core.verified import SignedLog, row_error

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace


def check_columns(ws: Workspace, log: SignedLog) -> int:
    """Each entry's ``control``, ``kind`` and ``verdict`` columns equal its signed statement."""
    with ws.store.read() as conn:
        rows = conn.execute(select(ledger_entries.c.idx, ledger_entries.c.control,
                                   ledger_entries.c.kind, ledger_entries.c.verdict)).all()
    for idx, control, kind, verdict in rows:
        e = log.get(int(idx))
        if e is None:
            continue  # beyond the signed checkpoint: SignedLog.load already refused it
        signed = {"control": e.control[:8],
                  "kind": str(e.statement.get("predicateType", ""))[:200],
                  "verdict": e.verdict[:16]}
        for name, stored in (("control", control), ("kind", kind), ("verdict", verdict)):
            if stored != signed[name]:
                raise row_error("ledger_entries", f"idx {idx}", f"column {name} is {stored!r}, "
                                f"the signed statement says {signed[name]!r} (edited)")
    return len(rows)


def check_subjects(ws: Workspace, log: SignedLog) -> int:
    """``ledger_subjects`` holds exactly the signed subjects of every entry."""
    return compare_subjects(ws, {e.index: e.subjects for e in log.all()})


def compare_subjects(ws: Workspace, signed_by_entry: Mapping[int, Sequence[tuple[str, str]]],
                     digests: Iterable[str] | None = None, below: int | None = None) -> int:
    """Compare ``ledger_subjects`` with the signed (name, digest) subjects of each entry.

    With ``digests``, only index rows and signed subjects naming one of them are compared
    (what the gate needs for a version's scope); either way every row read is compared.
    ``below``: only the index rows of entries before it (the log size the caller read, when
    writers may append meanwhile). Returns the number of index rows compared.
    """
    wanted = None if digests is None else set(digests)
    q = select(ledger_subjects.c.idx, ledger_subjects.c.position, ledger_subjects.c.name,
               ledger_subjects.c.digest)
    if wanted is not None:
        q = q.where(ledger_subjects.c.digest.in_(sorted(wanted)))
    if below is not None:
        q = q.where(ledger_subjects.c.idx < below)
    with ws.store.read() as conn:
        stored = {(int(r[0]), int(r[1])): (str(r[2]), str(r[3])) for r in conn.execute(q)}
    signed = {(index, pos): (name, digest) for index, subjects in signed_by_entry.items()
              for pos, (name, digest) in enumerate(subjects)
              if wanted is None or digest in wanted}
    for key, value in sorted(stored.items()):
        was = signed.get(key)
        if was != value:
            raise row_error("ledger_subjects", f"idx {key[0]} position {key[1]}",
                            f"indexes subject {value[1][:16]} of entry #{key[0]}, the signed "
                            f"statement has {was[1][:16] if was else 'no such subject'} "
                            "(edited or inserted)")
    for key, value in sorted(signed.items()):
        if key not in stored:
            raise row_error("ledger_subjects", f"idx {key[0]} position {key[1]}",
                            f"missing: entry #{key[0]} signed subject {value[1][:16]} "
                            "(deleted or repointed)")
    return len(stored)
