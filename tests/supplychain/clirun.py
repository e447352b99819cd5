"""Run the ``cpmap`` CLI in-process for the dependency/SBOM/images/access tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cpmap.cli import main

Cli = Callable[..., tuple[int, str, str]]


def make_cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """A function running ``cpmap ARGS`` that returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            main(list(args))
        except SystemExit as e:
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
