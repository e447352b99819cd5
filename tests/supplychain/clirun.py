"""Run the ``cpmap`` CLI in-process for the supply-chain tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cpmap.cli import main

Cli = Callable[..., tuple[int, str, str]]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``cpmap ARGS`` in-process: (exit code, stdout, stderr)."""
    code = 0
    try:
        main(list(args))
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def make_cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """A function running ``cpmap ARGS`` that returns (exit code, stdout, stderr)."""
    return lambda *args: run_cli(capsys, *args)
