"""CP1: `cpmap data fingerprint` vs `sha256sum`, whole processes, same data, same run.

Data (bench/data, gitignored): one 3 GB file, 400 files of 10 MB, 20,000 small files. Scale
down with CPMAP_BENCH_SCALE=0.1 for a quick look. Both tools read from the page cache after a
warm-up pass, so the comparison is hashing and start-up, not the disk.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from bench.common import DATA, time_cmd, write_page

SCALE = float(os.environ.get("CPMAP_BENCH_SCALE", "1"))
CPMAP = [sys.executable, "-m", "cpmap", "data", "fingerprint"]


def _make_file(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        written = 0
        while written < size:
            n = min(len(block), size - written)
            fh.write(block[:n])
            written += n
            block = block[1:] + block[:1]


def _make_tree(root: Path, count: int, size: int) -> None:
    marker = root / ".complete"
    if marker.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    for i in range(count):
        p = root / f"d{i % 20:02d}" / f"f{i:05d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(size) if size <= 4096 else os.urandom(1024) * (size // 1024))
    marker.write_text("ok")


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.bin"))


def _case(label: str, target: Path, nbytes: int) -> str:
    if target.is_dir():
        files = _files(target)
        sha = ["sha256sum", *files]
        ours = [*CPMAP, "."]
        cwd: Path | None = target
    else:
        sha, ours, cwd = ["sha256sum", str(target)], [*CPMAP, str(target)], None
    time_cmd(sha, repeat=1, cwd=cwd)  # warm the page cache
    t_sha = time_cmd(sha, cwd=cwd)
    t_ours = time_cmd(ours, cwd=cwd)
    mb = nbytes / 1e6
    return (f"| {label} | {t_sha:.2f} s ({mb / t_sha:.0f} MB/s) | {t_ours:.2f} s "
            f"({mb / t_ours:.0f} MB/s) | **{t_sha / t_ours:.2f}x** |")


def main() -> None:
    big = DATA / "fp" / "big.bin"
    _make_file(big, int(3e9 * SCALE))
    mid = DATA / "fp" / f"mid-{SCALE}"
    _make_tree(mid, int(400 * SCALE) or 1, 10 << 20)
    small = DATA / "fp" / f"small-{SCALE}"
    _make_tree(small, int(20_000 * SCALE) or 1, 2048)
    rows = [
        _case(f"one file, {big.stat().st_size / 1e9:.1f} GB", big, big.stat().st_size),
        _case(f"{len(_files(mid))} files x 10 MB", mid, sum(p.stat().st_size
                                                            for p in mid.rglob("*.bin"))),
        _case(f"{len(_files(small))} files x 2 KB", small, sum(p.stat().st_size
                                                             for p in small.rglob("*.bin"))),
    ]
    body = ("Median of 3 runs each, page cache warm, output discarded. `cpmap` is the whole CLI "
            "process (`python -m cpmap data fingerprint`), start-up included; `sha256sum` is "
            "coreutils over the same files.\n\n"
            "| data | sha256sum | cpmap data fingerprint | speed-up |\n|---|---|---|---|\n"
            + "\n".join(rows))
    write_page("cp1-fingerprint", "CP1 fingerprint throughput vs sha256sum", body, "fingerprint")


if __name__ == "__main__":
    main()
