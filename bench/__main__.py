"""Run every benchmark module in bench/ (or those named on the command line)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

SKIP = {"common", "__main__"}


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = argv or sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name not in SKIP)
    failed = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "main"):
            continue
        print(f"== bench.{name}", flush=True)
        start = time.perf_counter()
        try:
            module.main()
        except Exception as e:  # noqa: BLE001 - one failing bench must not hide the others
            failed.append(name)
            print(f"bench.{name} failed: {e.__class__.__name__}: {e}", flush=True)
        print(f"== bench.{name} done in {time.perf_counter() - start:.0f}s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
