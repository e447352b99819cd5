"""A start-up fast path for ``cpmap data fingerprint``.

Hashing is often run on many small inputs in CI loops and compared against ``sha256sum``; typer
and its imports cost ~200 ms per process, more than hashing a few hundred files. This parses the
fingerprint command's few options with argparse and runs the same implementation as the typer
command (:func:`cpmap.cli.data.run_fingerprint`); anything else, including ``--help``, goes
through typer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

_OPTIONS = {"-f", "--format", "-o", "--output", "--workers"}


def try_fast(args: list[str]) -> bool:
    """Run ``data fingerprint`` without typer if ``args`` is a plain use of it."""
    if args[:2] != ["data", "fingerprint"] or "--help" in args or "-h" in args:
        return False
    parser = argparse.ArgumentParser(prog="cpmap data fingerprint", add_help=False)
    parser.add_argument("path", type=Path)
    parser.add_argument("-f", "--format", choices=["json", "table"], default="json")
    parser.add_argument("-o", "--output", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=None)
    known = [a for a in args[2:] if not a.startswith("-") or a.split("=")[0] in _OPTIONS]
    if len(known) != len(args[2:]):
        return False  # an option we do not know here: let typer produce the usual error
    try:
        ns = parser.parse_args(args[2:])
    except SystemExit:
        return False
    from cpmap.cli.fingerprint import run_fingerprint

    run_fingerprint(ns.path, ns.format, ns.output, ns.workers)
    return True
