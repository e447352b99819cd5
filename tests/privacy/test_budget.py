from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from cpmap.core.ledger import Ledger, verify_ledger
from cpmap.core.workspace import Workspace, open_workspace
from cpmap.errors import InputError, WorkspaceError
from cpmap.privacy import budget
from cpmap.privacy.budget import BudgetExceeded, remaining, spend, status

from .conftest import set_config


def test_default_budget_and_spend_records_evidence(ws: Workspace) -> None:
    assert remaining(ws, "customers") == budget.DEFAULT_EPSILON_BUDGET
    s = spend(ws, "customers", 1.5, "mean(age) release")
    assert s.remaining == pytest.approx(8.5)
    assert remaining(ws, "customers") == pytest.approx(8.5)
    entry = Ledger(ws).get(s.entry)
    pred = entry.predicate
    assert pred["control"] == "CP2"
    assert pred["verdict"] == "pass"
    assert pred["metrics"]["spent_epsilon"] == pytest.approx(1.5)
    assert pred["details"]["purpose"] == "mean(age) release"
    assert verify_ledger(Ledger(ws)).size == Ledger(ws).size()


def test_configured_budgets(ws: Workspace) -> None:
    ws = set_config(ws, '[privacy]\ndefault_budget = 2.0\n\n[privacy.budgets]\n'
                        '"a" = 0.5\n"b" = { epsilon = 1.0, delta = 1e-6 }\n')
    assert budget.budget_for(ws, "a").epsilon == 0.5
    b = budget.budget_for(ws, "b")
    assert (b.epsilon, b.delta) == (1.0, 1e-6)
    assert budget.budget_for(ws, "other").epsilon == 2.0


def test_exceeding_refused_and_nothing_written(ws: Workspace) -> None:
    ws = set_config(ws, "[privacy]\ndefault_budget = 1.0\n")
    for _ in range(10):
        spend(ws, "d", 0.1, "q")  # float sums of 0.1 must still fit exactly 1.0
    size = Ledger(ws).size()
    with pytest.raises(BudgetExceeded) as err:
        spend(ws, "d", 0.01, "one too many")
    assert err.value.exit_code == 1
    assert "budget exceeded" in err.value.message
    assert Ledger(ws).size() == size
    assert status(ws, "d").releases == 10


def test_delta_budget_enforced(ws: Workspace) -> None:
    spend(ws, "d", 0.1, "dp-sgd", delta=1e-5)
    with pytest.raises(BudgetExceeded, match="delta"):
        spend(ws, "d", 0.1, "dp-sgd again", delta=1e-5)


def test_budgets_are_per_dataset(ws: Workspace) -> None:
    ws = set_config(ws, "[privacy]\ndefault_budget = 1.0\n")
    spend(ws, "x", 1.0, "all of x")
    assert spend(ws, "y", 1.0, "all of y").remaining == 0.0
    assert budget.datasets_with_spends(ws) == ["x", "y"]
    assert [h["dataset"] for h in budget.history(ws)] == ["x", "y"]


@pytest.mark.parametrize("eps", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_epsilon(ws: Workspace, eps: float) -> None:
    with pytest.raises(InputError):
        spend(ws, "d", eps, "q")


def test_bad_config(ws: Workspace) -> None:
    ws = set_config(ws, '[privacy]\ndefault_budget = "lots"\n')
    with pytest.raises(WorkspaceError, match="default_budget"):
        remaining(ws, "d")


def test_empty_purpose_refused(ws: Workspace) -> None:
    with pytest.raises(InputError, match="purpose"):
        spend(ws, "d", 1.0, " ")


def _worker(root: str, q: mp.Queue) -> None:  # type: ignore[type-arg]
    w = open_workspace(Path(root))
    ok = 0
    for _ in range(5):
        try:
            spend(w, "race", 0.25, "race")
            ok += 1
        except BudgetExceeded:
            pass
    q.put(ok)


def test_concurrent_spends_never_overspend(ws: Workspace) -> None:
    ws = set_config(ws, "[privacy]\ndefault_budget = 1.0\n")
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_worker, args=(str(ws.root), q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert sum(q.get(timeout=5) for _ in procs) == 4
    assert status(ws, "race").spent_epsilon == pytest.approx(1.0)
    assert verify_ledger(Ledger(ws)).size == Ledger(ws).size()


def test_versioned_reference_shares_the_name_budget(ws: Workspace) -> None:
    spend(ws, "digits@2", 1.0, "dp-sgd")
    assert remaining(ws, "digits") == pytest.approx(budget.DEFAULT_EPSILON_BUDGET - 1.0)
    assert status(ws, "digits@7").spent_epsilon == pytest.approx(1.0)
