"""`--engine dask`: a tree fingerprinted on Dask workers gives exactly the local digests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cpmap.errors import InputError
from cpmap.provenance.distributed import fingerprint_dask, groups_of
from cpmap.provenance.fingerprint import fingerprint, walk

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,  # inproc://
                      dashboard_address=None) as c:
        yield c


def _tree(root: Path) -> Path:
    rng = __import__("random").Random(7)
    for i in range(40):
        p = root / f"d{i % 5}" / f"sub{i % 3}" / f"f{i}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(rng.choice([0, 10, 5000, 300_000])))
    (root / "big.bin").write_bytes(os.urandom(2_000_000))
    (root / "emptydir").mkdir()
    return root


def test_dask_fingerprint_is_identical(tmp_path: Path, cluster: Any) -> None:
    from distributed import Client

    tree = _tree(tmp_path / "t")
    with Client(cluster) as client:
        got = fingerprint_dask(tree, client=client)
    want = fingerprint(tree)
    assert got == want and got.digest == want.digest and len(got.files) == 41


def test_groups_balance_sizes_and_keep_every_file(tmp_path: Path) -> None:
    entries = sorted(walk(_tree(tmp_path / "t")))
    groups = groups_of(entries, 4)
    assert sorted(rel for g in groups for rel, _ in g) == [e[0] for e in entries]
    assert len(groups) == 4


def test_cli_engine_dask_with_a_scheduler(tmp_path: Path, cluster: Any,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.conftest import run_cli

    tree = _tree(tmp_path / "t")
    code, out, err = run_cli(capsys, "data", "fingerprint", str(tree), "--engine", "dask",
                             "--scheduler", cluster.scheduler_address)
    assert code == 0, err
    code, local, err = run_cli(capsys, "data", "fingerprint", str(tree))
    assert json.loads(out) == json.loads(local)
    code, _, err = run_cli(capsys, "data", "fingerprint", str(tree), "--engine", "spark")
    assert code == 2 and "--engine 'spark'" in err and "Traceback" not in err


def test_single_file_and_missing_path(tmp_path: Path) -> None:
    f = tmp_path / "one.bin"
    f.write_bytes(b"abc")
    assert fingerprint_dask(f) == fingerprint(f)
    with pytest.raises(InputError, match="no such file"):
        fingerprint_dask(tmp_path / "nope")
