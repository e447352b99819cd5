"""Side tables backed by the signed ledger: rows derived from signed entries, checked on read.

Use this for any store table that a decision reads (API keys, review decisions, rollout steps,
model and dataset rows...). A store writer without the signing key can insert, edit or delete
rows of any table; only the ledger resists that. So such a table is declared a *cache* of
state folded from signed entries:

* every change to the table is made in the same ``ws.store.write()`` transaction as the signed
  ledger entry that records it (``record(..., conn=conn)``), and the row carries that entry's
  index in an ``entry`` column (or its state is folded without one);
* a :class:`LedgerTable` says which entry kinds change the table and how one signed entry
  changes the state (``fold``): the expected rows, keyed by the table's key columns, holding the
  column values as the store holds them;
* readers that decide call :meth:`LedgerTable.read` (every row compared with the folded state,
  a row the log does not back is an :class:`~cpmap.core.verified.IntegrityError` naming the
  table and row, exit 1), and ``cpmap ledger verify`` calls :meth:`LedgerTable.verify` through
  :data:`cpmap.core.derived_tables.DERIVED`.

Columns that the signed entry does not determine (a display timestamp written with the row)
are simply not put in the folded state and are not compared; show the signed value instead.

Example, the table of review decisions made by ``review-decision`` entries
(:mod:`cpmap.review.signed_rows`)::

    def _decision(e):
        d = e.details
        return [{"item": int(e.metrics["item"]), "reviewer": str(d["reviewer"]),
                 "decision": str(d["decision"]), "label": d.get("label"),
                 "created_at": str(e.predicate["timestamp"]), "entry": e.index}]

    DECISIONS = LedgerTable(review_decisions, key=("item", "reviewer"),
                            kinds=("review-decision",),
                            fold=appended(_decision, ("item", "reviewer")))
    rows = DECISIONS.read(ws, conn, where=lambda r: r["item"] == 7)   # verified rows
    # and in DERIVED: "review_decisions": "cpmap.review.signed_rows:verify_decisions"
    def verify_decisions(ws, log): return DECISIONS.verify(ws, log)

Every table a decision reads uses this one mechanism: trusted pickles and supplier keys,
privacy spends, aliases and stage moves, registry versions and events, stored models,
datasets and lineage, gateway keys, red-team statuses, review decisions and rollout steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cpmap.core.verified import IntegrityError, SignedEntry, SignedLog, row_error

if TYPE_CHECKING:
    from sqlalchemy import Connection, Table

    from cpmap.core.workspace import Workspace

Key = tuple[Any, ...]
State = dict[Key, dict[str, Any]]
Fold = Callable[[State, SignedEntry], None]


def appended(make: Callable[[SignedEntry], Iterable[dict[str, Any]]], key: tuple[str, ...],
             first_wins: bool = False) -> Fold:
    """A fold for an insert-only table: each signed entry adds the rows ``make`` returns.

    ``first_wins``: a later entry making a row with the same key adds nothing (for tables
    whose writer skips a row that already exists, such as a lineage edge)."""

    def fold(state: State, e: SignedEntry) -> None:
        for row in make(e):
            k = tuple(row[c] for c in key)
            if first_wins and k in state:
                continue
            state[k] = row

    return fold


@dataclass(frozen=True)
class LedgerTable:
    """A store table whose rows must equal the state folded from signed ledger entries.

    ``key``: the columns that identify a row; ``kinds``: the entry kinds that change the
    table (read from the signed statements, signatures checked); ``fold``: applies one signed
    entry, in log order, to the expected state. With ``complete`` (the default) a row the
    state expects but the table lacks is an integrity error too (a deleted row would
    otherwise, say, restore a privacy budget or forget a revocation).

    ``row_label`` names a row in errors (default: ``column 'value'`` per key column);
    ``computed`` adds values computed from a stored row, compared like columns (the key id
    of a stored PEM, when the entry signs only the id); ``covers`` says which rows the log
    decides at all (review items are queued unsigned; only a final one is a signed
    decision): other rows are not compared, and a signed row that is no longer covered is
    missing.
    """

    table: Table
    key: tuple[str, ...]
    kinds: tuple[str, ...]
    fold: Fold
    complete: bool = True
    row_label: Callable[[Key], str] | None = None
    computed: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    covers: Callable[[Mapping[str, Any]], bool] | None = None

    @property
    def name(self) -> str:
        return str(self.table.name)

    def expected(self, log: SignedLog) -> State:
        """The rows the signed log says the table holds, by key."""
        state: State = {}
        for e in log.of_kind(*self.kinds):
            self.fold(state, e)
        return state

    def label(self, key: Key) -> str:
        if self.row_label is not None:
            return self.row_label(key)
        return " ".join(f"{c} {v!r}" for c, v in zip(self.key, key, strict=True))

    def divergences(self, rows: Iterable[Mapping[str, Any]], log: SignedLog,
                    where: Callable[[Mapping[str, Any]], bool] | None = None
                    ) -> list[IntegrityError]:
        """Every row of ``rows`` (the table, or the part ``where`` selects) that differs from
        the folded state: inserted, edited, or (with ``complete``) deleted; one error each,
        naming the table and the row."""
        state = self.expected(log)
        if where is not None:
            state = {k: v for k, v in state.items() if where(v)}
        found: list[IntegrityError] = []
        seen: set[Key] = set()
        for row in rows:
            if (where is not None and not where(row)) or (
                    self.covers is not None and not self.covers(row)):
                continue
            key = tuple(row[c] for c in self.key)
            seen.add(key)
            signed = state.get(key)
            if signed is None:
                found.append(row_error(self.name, self.label(key), self._unsigned(row, state)))
                continue
            stored = {**row, **self.computed(row)} if self.computed is not None else row
            problem = _difference(stored, signed)
            if problem is not None:
                found.append(row_error(self.name, self.label(key), problem))
        if self.complete:
            found += [row_error(self.name, self.label(key), f"missing: {_by(signed)} made it "
                                "(deleted)") for key, signed in state.items() if key not in seen]
        return found

    def _unsigned(self, row: Mapping[str, Any], state: State) -> str:
        """Why a row with no signed state is refused; a row naming an entry that made
        another row (a trust repointed at another digest) says which."""
        named = row.get("entry")
        made = [] if named is None else [k for k, v in state.items() if v.get("entry") == named]
        unsigned = f"no signed ledger entry of kind {' or '.join(self.kinds)} made this row"
        if made:
            return (f"{unsigned}: the entry it names, #{named}, made row "
                    f"{self.label(made[0])}, not this {', '.join(self.key)} "
                    "(inserted or repointed)")
        return f"{unsigned} (inserted)"

    def check(self, rows: Iterable[Mapping[str, Any]], log: SignedLog,
              where: Callable[[Mapping[str, Any]], bool] | None = None
              ) -> list[dict[str, Any]]:
        """``rows`` (every row of the table, or the part ``where`` selects) as dicts, once
        they equal the folded state.

        Raises the first of :meth:`divergences` (an
        :class:`~cpmap.core.verified.IntegrityError` naming the table and the row)."""
        out = [dict(r) for r in rows]
        problems = self.divergences(out, log, where)
        if problems:
            raise problems[0]
        return out if where is None else [r for r in out if where(r)]

    def rows(self, conn: Connection) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in conn.execute(select(self.table))]

    def read(self, ws: Workspace, conn: Connection | None = None, *, strict: bool = True,
             where: Callable[[Mapping[str, Any]], bool] | None = None,
             log: SignedLog | None = None) -> list[dict[str, Any]]:
        """Every row of the table (or the part ``where`` selects), verified against the
        signed log (inside ``conn``'s transaction when given, e.g. a write that decides from
        the current state; ``log``: one already loaded in that transaction).

        ``strict=False``: a damaged log (see :meth:`SignedLog.load`) does not raise by itself;
        each row must still equal the fold of the entries whose own signatures verify."""
        if conn is not None:
            return self.check(self.rows(conn), log or SignedLog.load(ws, conn, strict=strict),
                              where)
        with ws.store.read() as c:
            return self.check(self.rows(c), log or SignedLog.load(ws, c, strict=strict),
                              where)

    def verify(self, ws: Workspace, log: SignedLog) -> int:
        """``cpmap ledger verify``: the number of rows checked against ``log``; every
        divergence is reported (:class:`Divergences`), not only the first."""
        with ws.store.read() as conn:
            rows = self.rows(conn)
        problems = self.divergences(rows, log)
        if problems:
            raise Divergences(problems)
        return sum(1 for r in rows if self.covers is None or self.covers(r))


def _difference(row: Mapping[str, Any], signed: Mapping[str, Any]) -> str | None:
    """How ``row`` differs from its signed state, or None: the first edited column, or a
    row put back to an older entry's values (it names the entry a later one overrode)."""
    changed = [c for c, v in signed.items() if row.get(c) != v]
    if not changed:
        return None
    named = row.get("entry")
    if "entry" in changed and isinstance(named, int) and named < int(signed["entry"]):
        other = next((c for c in changed if c != "entry"), None)
        to = f", to {other} {signed[other]!r}" if other else ""
        return (f"names ledger entry #{named}, but signed entry #{signed['entry']} moved it "
                f"later{to} (repointed)")
    column = changed[0]
    says = (f"ledger entry #{signed['entry']} signed" if "entry" in signed
            else "the signed log says")
    return f"{column} is {row.get(column)!r}, {says} {signed[column]!r} (edited)"


class Divergences(IntegrityError):
    """Several rows that the signed log does not back, all named (the first one first)."""

    def __init__(self, problems: list[IntegrityError]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more: " + "; ".join(
            p.message for p in problems[1:]) + ")" if len(problems) > 1 else ""
        super().__init__(problems[0].message + more, hint=problems[0].hint)


def _by(signed: Mapping[str, Any]) -> str:
    return f"ledger entry #{signed['entry']}" if "entry" in signed else "the signed log"
