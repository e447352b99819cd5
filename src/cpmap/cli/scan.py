"""``cpmap scan``: the CP3 scanners. Each subcommand lives in its own module, one line here.

Every scanner shares the findings schema, renders table/json/sarif, exits 1 when it finds
something, 0 when clean and 2 on bad input.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(no_args_is_help=True)

# (subcommand, module, function)
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("deps", "cpmap.cli.scan_deps", "deps"),
    ("images", "cpmap.cli.scan_images", "images"),
    ("secrets", "cpmap.cli.scan_secrets", "secrets"),
    ("model", "cpmap.cli.scan_model", "model"),
]

for _name, _module, _func in SUBCOMMANDS:
    app.command(_name)(getattr(importlib.import_module(_module), _func))
