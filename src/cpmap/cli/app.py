"""The command tree. Each group lives in its own module and is registered here by one line."""

from __future__ import annotations

import importlib
from typing import Any

import typer

# (group name, module holding `app`, help). A module is imported only when its group runs.
GROUPS: list[tuple[str, str, str]] = [
    ("ledger", "cpmap.cli.ledger", "Inspect, prove, export and verify the evidence ledger."),
    ("data", "cpmap.cli.data", "CP1: fingerprint, sign, verify, register datasets; lineage."),
    ("trust", "cpmap.cli.trust", "Keys trusted to sign supplier attestations."),
    ("privacy", "cpmap.cli.privacy", "CP2: PII scan/redact, k-anonymity, DP, synthetic data."),
    ("scan", "cpmap.cli.scan", "CP3: scan dependencies, secrets, model files and images."),
    ("access", "cpmap.cli.access", "CP3: least-privilege data access: check and review."),
    ("models", "cpmap.cli.models", "Stored models: list, show, add safely, trust a pickle."),
    ("robustness", "cpmap.cli.robustness", "CP4: robustness evaluation under attack."),
    ("registry", "cpmap.cli.registry", "CP6: model versions, cards, aliases, promotion, "
     "rollback."),
    ("redteam", "cpmap.cli.redteam", "CP5: red-team campaigns and tracked findings."),
    ("gateway", "cpmap.cli.gateway", "CP7: API keys, gateway attacks, prediction log."),
]

# (command name, module, function name): top-level commands.
COMMANDS: list[tuple[str, str, str]] = [
    ("init", "cpmap.cli.init_cmd", "init"),
    ("demo", "cpmap.cli.demo", "demo"),
    ("report", "cpmap.cli.report", "report"),
    ("sbom", "cpmap.cli.sbom", "sbom"),
    ("train", "cpmap.cli.train", "train"),
    ("gate", "cpmap.cli.gate", "gate"),
    ("serve", "cpmap.cli.serve", "serve"),
]


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
    only = wanted if wanted in _names() else None
    for name, module, help_text in GROUPS:
        if only in (None, name):
            app.add_typer(importlib.import_module(module).app, name=name, help=help_text)
    for name, module, func in COMMANDS:
        if only in (None, name):
            app.command(name)(getattr(importlib.import_module(module), func))
    return typer.main.get_command(app)


def _names() -> set[str]:
    return {g[0] for g in GROUPS} | {c[0] for c in COMMANDS}
