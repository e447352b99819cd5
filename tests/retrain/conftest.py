"""Digits batches for the intake: clean, with planted PII, poisoned (flipped labels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="session")
def anchor() -> Any:
    from cpmap.builtin import digits
    from cpmap.models.datasets import Dataset

    x, y = digits()
    return Dataset("digits@1", "0" * 64, x[:1200], y[:1200], tuple(str(i) for i in range(10)),
                   image_shape=(1, 8, 8))


def write_batch(path: Path, x: np.ndarray, y: np.ndarray, extra: dict[str, list[str]] | None
                = None) -> Path:
    import pandas as pd

    frame = pd.DataFrame(x, columns=[f"p{i}" for i in range(x.shape[1])])
    frame["label"] = y
    for k, v in (extra or {}).items():
        frame[k] = v
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def fresh_rows() -> tuple[np.ndarray, np.ndarray]:
    """Held-out digits (rows the anchor does not hold), correctly labelled."""
    from cpmap.builtin import digits

    x, y = digits()
    return x[1200:1280], y[1200:1280]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``cpmap ARGS`` in-process: (exit code, stdout, stderr)."""
    from cpmap.cli import main

    code = 0
    try:
        main(list(args))
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
