"""``cpmap demo`` in-process: a bad ``--only`` is bad input and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpmap.cli import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = 0
    try:
        main(list(args))
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("only", ["CP99", "CP1,CP99", "CP11", "nope"])
def test_only_with_a_control_without_a_stage_is_exit_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, only: str) -> None:
    code, err = cli(capsys, "demo", "--only", only, "-w", str(tmp_path / "ws"),
                    "--report", str(tmp_path / "report"))
    assert code == 2
    assert "no lifecycle stage" in err and "Traceback" not in err
    assert not (tmp_path / "ws").exists() and not (tmp_path / "report").exists()


def test_only_a_stage_whose_input_is_missing_fails_with_exit_1(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = cli(capsys, "demo", "--only", "cp6", "-w", str(tmp_path / "ws"),
                    "--report", str(tmp_path / "report"))
    assert code == 1
    assert "artifact digits_standard" in err and "--only CP4,CP6" in err
    assert "FAILED" in err and "report of the production model" not in err
    assert (tmp_path / "report" / "index.html").is_file()
