"""Helpers shared by the benchmarks: timing whole processes and writing result pages."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "docs" / "benchmarks"


def time_cmd(cmd: Sequence[str], repeat: int = 3, cwd: Path | None = None) -> float:
    """Median wall-clock seconds of a whole process (start-up included), output discarded."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(list(cmd), cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"{datetime.now(UTC):%Y-%m-%d}")


def write_page(name: str, title: str, body: str, module: str = "") -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text(f"# {title}\n\nMeasured by `python -m bench {module}` on {machine()}.\n\n"
                    f"{body.strip()}\n")
    print(path.read_text())
    return path


def peer_venv(venv: Path, module: str, packages: Sequence[str]) -> Path:
    """The python of a peer's own virtual environment (peers pin what cpmap cannot: pandas<3,
    old scikit-learn...): created once, ``packages`` installed when ``import module`` fails."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    probe = subprocess.run([str(python), "-c", f"import {module}"],  # noqa: S603
                           capture_output=True, check=False)
    if probe.returncode:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages],  # noqa: S603
                       check=True)
    return python

