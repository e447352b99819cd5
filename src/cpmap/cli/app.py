"""The command tree: cpmap's own commands and every control's, from the control registry.

Each group lives in its own module, imported only when it runs (``cpmap data fingerprint`` must
not pay for torch)."""

from __future__ import annotations

import importlib
from typing import Any

import typer

from cpmap.controls import all_controls
from cpmap.core.control import CliCommand, CliGroup

# cpmap's own groups and commands; each control point declares its own (``ControlPoint.cli``).
CORE: tuple[CliGroup | CliCommand, ...] = (
    CliGroup("ledger", "cpmap.cli.ledger",
             "Inspect, prove, export and verify the evidence ledger."),
    CliCommand("init", "cpmap.cli.init_cmd", "init"),
    CliCommand("demo", "cpmap.cli.demo", "demo"),
    CliCommand("report", "cpmap.cli.report", "report"),
)


def entries() -> tuple[CliGroup | CliCommand, ...]:
    """Every group and command: cpmap's, then each control's in map order."""
    return (*CORE, *(e for c in all_controls() for e in c.cli))


def _version(value: bool) -> None:
    if value:
        from cpmap import __version__

        typer.echo(f"cpmap {__version__}")
        raise typer.Exit()


def build(wanted: str | None = None) -> Any:
    """Build the click command for typer; lazy so that `cpmap data fingerprint` starts fast."""
    app = typer.Typer(
        name="cpmap", no_args_is_help=True, add_completion=False,
        help="cpmap: the AI-security Control Points Map. Signed evidence for ten ML security "
             "controls, a tamper-evident ledger and a release gate.",
        pretty_exceptions_enable=False, rich_markup_mode=None,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                     help="Print the version and exit."),
    ) -> None:
        """cpmap: the AI-security Control Points Map."""

    # Import only the invoked group: `cpmap data fingerprint` must not pay for the others.
    known = entries()
    only = wanted if wanted in {e.name for e in known} else None
    groups: dict[str, list[CliGroup]] = {}
    for e in known:
        if only not in (None, e.name):
            continue
        if isinstance(e, CliGroup):
            groups.setdefault(e.name, []).append(e)
        else:
            app.command(e.name)(getattr(importlib.import_module(e.module), e.function))
    for name, declared in groups.items():
        app.add_typer(_group(declared), name=name, help=" ".join(d.help for d in declared))
    return typer.main.get_command(app)


def _group(declared: list[CliGroup]) -> Any:
    """One typer app for a group that one or more controls declare: CP8 and CP9 both add
    commands to ``cpmap monitor``, each from its own module."""
    first = importlib.import_module(declared[0].module).app
    if len(declared) == 1:
        return first
    merged = typer.Typer(no_args_is_help=True)
    for d in declared:
        part = importlib.import_module(d.module).app
        merged.registered_commands.extend(part.registered_commands)
        merged.registered_groups.extend(part.registered_groups)
    return merged
