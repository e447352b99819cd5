"""Differential-privacy budget accounting, per dataset.

Every differentially private release made from a dataset (a DP query, a DP synthetic copy, a
DP-SGD training run) spends part of that dataset's privacy budget. Budgets add up under basic
sequential composition: the epsilons of all releases from one dataset are summed, and so are
the deltas. A release that would take the total past the budget is refused *before* anything is
released.

Configuration (``.cpmap/cpmap.toml``)::

    [privacy]
    default_budget = 10.0        # epsilon per dataset when the dataset has no entry below
    default_delta_budget = 1e-5  # delta per dataset

    [privacy.budgets]
    "customers" = 3.0                           # epsilon only
    "digits" = { epsilon = 8.0, delta = 1e-5 }  # epsilon and delta

``CPMAP_PRIVACY_DEFAULT_BUDGET`` overrides ``default_budget`` (when ``[privacy]`` is present).
A budget is keyed by the *people*, not by a file name: a release from a dataset is charged to
the CP1 name of every root of its lineage (:mod:`cpmap.privacy.population`). Every version of
a dataset, and every dataset derived from it through a recorded transform (a split, a redacted
or anonymized copy), shares its ancestors' budget, because neither a new version nor a copy
renews the individuals' privacy. A name CP1 does not know is its own population.

API::

    from cpmap.privacy.budget import spend, remaining, status, BudgetExceeded

    s = spend(ws, "digits", epsilon=2.5, purpose="dp-sgd model mnist-small", delta=1e-5)
    s.entry        # ledger index of the signed CP2 evidence for this spend
    s.remaining    # epsilon left for "digits" after it
    remaining(ws, "digits")  # -> float

``spend`` is atomic: inside one ``ws.store.write()`` transaction (exclusive against every other
writer, across processes) it reads the dataset's total, checks the budget, appends the signed
``privacy-spend`` evidence to the ledger and records the spend row. Two processes racing for
the last bit of budget cannot both get it. Call ``spend`` *before* computing the release, and
do not release if it raises :class:`BudgetExceeded` (exit code 1).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select

from cpmap.core.backed import LedgerTable, appended
from cpmap.core.refs import Ref
from cpmap.errors import Error, InputError, WorkspaceError

if TYPE_CHECKING:
    from cpmap.core.verified import SignedEntry, SignedLog
    from cpmap.core.workspace import Workspace

DEFAULT_EPSILON_BUDGET = 10.0
DEFAULT_DELTA_BUDGET = 1e-5
EVIDENCE_KIND = "privacy-spend"
_REL_TOL = 1e-9  # float sums of epsilons: 0.1 * 10 must fit a budget of 1.0


class BudgetExceeded(Error):
    """A release would take a dataset past its privacy budget; nothing was released or spent."""

    exit_code = 1


@dataclass(frozen=True)
class Budget:
    """The configured budget of one dataset."""

    dataset: str
    epsilon: float
    delta: float


@dataclass(frozen=True)
class Spend:
    """One recorded spend and the dataset's totals right after it.

    ``dataset`` is the population charged (the lineage root's name); a release from a join is
    charged to every root, and this is the one with the least left (``population``: all).
    """

    dataset: str
    epsilon: float
    delta: float
    purpose: str
    entry: int
    created_at: str
    spent_epsilon: float
    spent_delta: float
    budget: Budget
    population: tuple[str, ...] = ()

    @property
    def remaining(self) -> float:
        return max(0.0, self.budget.epsilon - self.spent_epsilon)

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "population": list(self.population or (self.dataset,)),
                "epsilon": self.epsilon, "delta": self.delta,
                "purpose": self.purpose, "entry": self.entry, "created_at": self.created_at,
                "spent_epsilon": self.spent_epsilon, "spent_delta": self.spent_delta,
                "budget_epsilon": self.budget.epsilon, "budget_delta": self.budget.delta,
                "remaining_epsilon": self.remaining}


@dataclass(frozen=True)
class BudgetStatus:
    """How much of a dataset's budget is spent, and by which releases."""

    budget: Budget
    spent_epsilon: float
    spent_delta: float
    releases: int

    @property
    def remaining(self) -> float:
        return max(0.0, self.budget.epsilon - self.spent_epsilon)

    @property
    def remaining_delta(self) -> float:
        return max(0.0, self.budget.delta - self.spent_delta)

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.budget.dataset, "budget_epsilon": self.budget.epsilon,
                "budget_delta": self.budget.delta, "spent_epsilon": self.spent_epsilon,
                "spent_delta": self.spent_delta, "remaining_epsilon": self.remaining,
                "remaining_delta": self.remaining_delta, "releases": self.releases}


# -- configuration ----------------------------------------------------------------------------


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0:
        raise WorkspaceError(f"cpmap.toml {where}: must be a finite number >= 0, got {value!r}")
    return float(value)


def budget_for(ws: Workspace, dataset: str) -> Budget:
    """The budget configured for ``dataset`` (its own entry, else the defaults)."""
    name = _dataset_name(dataset)
    eps = _number(ws.setting("privacy", "default_budget", DEFAULT_EPSILON_BUDGET),
                  "[privacy] default_budget")
    delta = _number(ws.setting("privacy", "default_delta_budget", DEFAULT_DELTA_BUDGET),
                    "[privacy] default_delta_budget")
    table = ws.setting("privacy", "budgets", {}) or {}
    if not isinstance(table, dict):
        raise WorkspaceError("cpmap.toml [privacy.budgets]: must be a table of dataset = epsilon")
    own = table.get(name)
    where = f"[privacy.budgets] {name!r}"
    if isinstance(own, dict):
        eps = _number(own.get("epsilon", eps), f"{where}.epsilon")
        delta = _number(own.get("delta", delta), f"{where}.delta")
    elif own is not None:
        eps = _number(own, where)
    return Budget(name, eps, delta)


def _dataset_name(dataset: str) -> str:
    """The budget key: a dataset name; a CP1 reference ``name@3`` counts against ``name``.

    Budget names are free text too (``--dataset``, a file's stem), so what is not a CP1
    reference with a version is a key as it stands.
    """
    name = dataset.strip()
    if "@" in name:
        try:
            name = Ref.parse(name, "dataset").name
        except InputError:
            pass  # not a CP1 reference (``my data@2``): the text is the key
    if not name or len(name) > 200:
        raise InputError(f"dataset name {dataset!r}: must be 1..200 characters")
    return name


def _check_amount(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{what} {value!r}: must be a finite number")
    if value < 0 or (what == "epsilon" and value == 0):
        raise InputError(f"{what} {value!r}: must be {'> 0' if what == 'epsilon' else '>= 0'}")
    return float(value)


# -- reading ----------------------------------------------------------------------------------


def _totals(spends: list[dict[str, Any]], dataset: str) -> tuple[float, float, int]:
    """Epsilon and delta spent from ``dataset`` and the number of releases, from verified
    spend rows (:func:`_check_spends`)."""
    rows = [r for r in spends if r["dataset"] == dataset]
    return (math.fsum(float(r["epsilon"]) for r in rows),
            math.fsum(float(r["delta"]) for r in rows), len(rows))


def population(ws: Workspace, dataset: str, digest: str | None = None) -> tuple[str, ...]:
    """The budget keys a release from ``dataset`` (or the version ``digest``) is charged to."""
    from cpmap.privacy.population import resolve

    _dataset_name(dataset)
    with ws.store.read() as conn:
        return resolve(conn, dataset.strip(), digest).names


def status(ws: Workspace, dataset: str, digest: str | None = None) -> BudgetStatus:
    """The budget a release from ``dataset`` spends, and what has been spent from it so far.

    ``dataset`` may be any dataset of a population (a derived copy reports its root's
    budget); with several roots, the one with the least epsilon left.
    """
    names = population(ws, dataset, digest)
    with ws.store.read() as conn:
        spends = _check_spends(ws, conn)  # the spent totals must be the signed spends
    out = [BudgetStatus(budget_for(ws, n), *_totals(spends, n)) for n in names]
    return min(out, key=lambda st: (st.remaining, st.remaining_delta))


def remaining(ws: Workspace, dataset: str) -> float:
    """Epsilon still available for ``dataset`` (0.0 when exhausted)."""
    return status(ws, dataset).remaining


def history(ws: Workspace, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every recorded spend (of one dataset, or all), oldest first, each row verified
    against its signed entry (what is shown is what was signed)."""
    names = None if dataset is None else set(population(ws, dataset))
    with ws.store.read() as conn:
        rows = _check_spends(ws, conn)
    return sorted((r for r in rows if names is None or r["dataset"] in names),
                  key=lambda r: int(r["entry"]))


def datasets_with_spends(ws: Workspace) -> list[str]:
    with ws.store.read() as conn:
        return sorted({str(r["dataset"]) for r in _check_spends(ws, conn)})


# -- spending ---------------------------------------------------------------------------------


def _fits(spent: float, amount: float, limit: float) -> bool:
    return spent + amount <= limit * (1 + _REL_TOL) + 1e-15


def subject_digest(conn: Connection, dataset: str) -> str:
    """Digest that names ``dataset`` in evidence: its latest registered CP1 version, if any."""
    from cpmap.provenance.tables import datasets

    row = conn.execute(select(datasets.c.digest).where(datasets.c.name == dataset)
                       .order_by(datasets.c.version.desc()).limit(1)).first()
    if row is not None:
        return str(row[0])
    return hashlib.sha256(f"cpmap-dataset:{dataset}".encode()).hexdigest()


def spend(ws: Workspace, dataset: str, epsilon: float, purpose: str, delta: float = 0.0, *,
          digest: str | None = None, details: Mapping[str, Any] | None = None) -> Spend:
    """Check and record a spend of ``epsilon`` (and ``delta``) from ``dataset``'s population.

    The budget charged is that of every root of the CP1 lineage of ``digest`` (else of the
    registered ``dataset``; a name CP1 does not know is its own population). Atomic (one store
    write transaction): reads the totals so far, raises :class:`BudgetExceeded` if this spend
    would exceed any root's epsilon or delta budget (nothing is written then), else appends
    signed CP2 ``privacy-spend`` evidence per root to the ledger and records the spends.
    ``digest`` names the dataset version in the evidence (default: the latest CP1 registered
    version of ``dataset``); ``details`` is added to the evidence (mechanism, query...).
    """
    from cpmap.core.ledger import Ledger
    from cpmap.privacy.population import resolve

    source = _dataset_name(dataset)
    eps = _check_amount(epsilon, "epsilon")
    dlt = _check_amount(delta, "delta")
    if not purpose.strip():
        raise InputError("purpose: say what the release is for (it is recorded in the ledger)")
    ledger = Ledger(ws)
    with ws.store.write() as conn:
        spends = _check_spends(ws, conn)  # a deleted or edited spend row: refused, no refill
        names = resolve(conn, dataset.strip(), digest).names
        budgets = [(budget_for(ws, n), *_totals(spends, n)[:2]) for n in names]
        for b, spent_eps, spent_delta in budgets:
            _refuse_if_over(b, spent_eps, spent_delta, eps, dlt)
        name_digest = digest or subject_digest(conn, source)
        out = [_charge(ws, conn, ledger, b, (spent_eps + eps, spent_delta + dlt),
                       (eps, dlt, purpose), (source, name_digest, names), details)
               for b, spent_eps, spent_delta in budgets]
    ledger.witness(out[-1][1])  # the last checkpoint covers every entry appended here
    return min((s for s, _e in out), key=lambda s: s.remaining)


def _charge(ws: Workspace, conn: Connection, ledger: Any, budget: Budget,
            totals: tuple[float, float], amount: tuple[float, float, str],
            source: tuple[str, str, tuple[str, ...]], details: Mapping[str, Any] | None
            ) -> tuple[Spend, Any]:
    """Append one root's signed spend evidence and its row (inside the caller's transaction)."""
    from cpmap.core.evidence import Evidence, Subject, Verdict, seal
    from cpmap.privacy.predicates import PrivacySpend
    from cpmap.privacy.tables import privacy_spends

    (total_eps, total_delta), (eps, dlt, purpose) = totals, amount
    name, digest, names = source
    charge = PrivacySpend.strict(Verdict.PASS, {
        "epsilon": eps, "delta": dlt, "spent_epsilon": total_eps, "spent_delta": total_delta,
        "budget_epsilon": budget.epsilon, "budget_delta": budget.delta,
        "remaining_epsilon": max(0.0, budget.epsilon - total_eps)}, (), {
        "purpose": purpose, "dataset": budget.dataset, "source": name,
        "population": list(names), **dict(details or {}),
        "highlights": [f"DP release from {name} (population {budget.dataset}): epsilon "
                       f"{eps:g} ({total_eps:g} of {budget.epsilon:g} spent) for {purpose}"]})
    entry = ledger.append_in(conn, seal(Evidence.of(charge, [Subject(name, digest)]), ws))
    now = entry.created_at  # the signed timestamp, checked on read like the amounts
    conn.execute(insert(privacy_spends).values(
        entry=entry.index, dataset=budget.dataset, epsilon=eps, delta=dlt,
        purpose=purpose[:2000], subject=digest, created_at=now))
    return Spend(budget.dataset, eps, dlt, purpose, entry.index, now, total_eps, total_delta,
                 budget, names), entry


def _refuse_if_over(budget: Budget, spent_eps: float, spent_delta: float, eps: float,
                    delta: float) -> None:
    if not _fits(spent_eps, eps, budget.epsilon):
        left = max(0.0, budget.epsilon - spent_eps)
        raise BudgetExceeded(
            f"{budget.dataset}: privacy budget exceeded: epsilon {eps:g} requested, "
            f"{left:g} of {budget.epsilon:g} left", hint=f"raise [privacy.budgets] "
            f"{budget.dataset!r} in cpmap.toml only if the data owner agrees")
    if not _fits(spent_delta, delta, budget.delta):
        left = max(0.0, budget.delta - spent_delta)
        raise BudgetExceeded(
            f"{budget.dataset}: privacy budget exceeded: delta {delta:g} requested, "
            f"{left:g} of {budget.delta:g} left", hint="[privacy] default_delta_budget or "
            f"[privacy.budgets] {budget.dataset!r} = {{ epsilon = ..., delta = ... }}")


# -- verification of spends against the signed ledger ------------------------------------------
#
# ``privacy_spends`` is a cache of the signed ``privacy-spend`` entries: a store writer without
# the signing key could delete rows to restore a budget. Before any total is used, the table is
# checked against the fold of the signed spends (:class:`~cpmap.core.backed.LedgerTable`): a
# row every column of which its entry signs, and every signed spend its row; a difference is an
# integrity error (exit 1), so nothing is released from a reset budget.


def _spend_row(e: SignedEntry) -> list[dict[str, Any]]:
    d, m = e.details, e.metrics
    return [{"entry": e.index, "dataset": str(d.get("dataset", "")),
             "epsilon": float(m.get("epsilon") or 0.0), "delta": float(m.get("delta") or 0.0),
             "purpose": str(d.get("purpose", ""))[:2000],
             "subject": e.subjects[0][1] if e.subjects else "",
             "created_at": str(e.predicate.get("timestamp", ""))}]


@cache
def spends_table() -> LedgerTable:
    from cpmap.privacy.tables import privacy_spends

    return LedgerTable(privacy_spends, key=("entry",), kinds=(EVIDENCE_KIND,),
                       fold=appended(_spend_row, ("entry",)))


def _check_spends(ws: Workspace, conn: Connection) -> list[dict[str, Any]]:
    """Every spend row, once the table equals the signed spends (inside ``conn``)."""
    return spends_table().read(ws, conn)


def verify_spends(ws: Workspace, log: SignedLog) -> int:
    """``cpmap ledger verify``: privacy_spends equals the signed privacy-spend entries."""
    return spends_table().verify(ws, log)
