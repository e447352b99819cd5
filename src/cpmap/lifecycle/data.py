"""The demo's built-in data: where it goes in the project, and what stands in when CP1 did not
run (``cpmap demo --only CP4``): the same built-in datasets by their ``builtin:`` reference."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cpmap.lifecycle.artifacts import Artifacts
from cpmap.lifecycle.context import Context

if TYPE_CHECKING:
    import numpy as np

    from cpmap.core.workspace import Workspace

BUILTIN_DIGITS = "builtin:digits"
BUILTIN_CUSTOMERS = "builtin:customers"


def write_builtin_data(workdir: Path) -> tuple[Path, Path]:
    """(customers.csv, digits.npz) written into the project's ``data/`` folder."""
    from cpmap.builtin import write_customers, write_digits

    return (write_customers(workdir / "data" / "customers.csv"),
            write_digits(workdir / "data" / "digits" / "digits.npz"))


def digits_ref(ctx: Context) -> str:
    """The digits dataset CP1 registered, else the built-in."""
    return ctx.artifacts.digits.ref if ctx.artifacts.has("digits") else BUILTIN_DIGITS


def customers_ref(ctx: Context) -> str:
    """The customer table CP1 registered, else the built-in."""
    return ctx.artifacts.customers.ref if ctx.artifacts.has("customers") else BUILTIN_CUSTOMERS


def customers_table(ctx: Context) -> tuple[Path, Artifacts]:
    """The raw customer table CP1 wrote, or one written now (then handed on as made here)."""
    if ctx.artifacts.has("customers_csv"):
        return ctx.artifacts.customers_csv, Artifacts()
    from cpmap.builtin import write_customers

    path = write_customers(ctx.workdir / "data" / "customers.csv")
    return path, Artifacts(customers_csv=path)


def held_out(ws: Workspace, name: str) -> np.ndarray:
    """``name``'s production version's held-out test rows (its training record's split, the
    rows the canary's golden-set comparison scores): the demo's natural, legitimate traffic."""
    import numpy as np

    from cpmap.registry.versions import get
    from cpmap.retrain.rollout import _golden

    version = get(ws, f"{name}@production").version
    return np.asarray(_golden(ws, name, version).x, dtype=np.float32)
