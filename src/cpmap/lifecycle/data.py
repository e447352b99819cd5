"""The demo's built-in data: where it goes in the project, and what stands in when CP1 did not
run (``cpmap demo --only CP4``): the same built-in datasets by their ``builtin:`` reference."""

from __future__ import annotations

from pathlib import Path

from cpmap.lifecycle.artifacts import Artifacts
from cpmap.lifecycle.context import Context

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
