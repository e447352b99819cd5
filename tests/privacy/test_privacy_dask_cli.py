"""``cpmap privacy scan/redact --engine dask``: the same findings, rows and counts as the
single-process path, on a LocalCluster reached through ``--scheduler``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from gateway.conftest import run_cli

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,  # inproc://
                      dashboard_address=None) as c:
        yield c


def _frame(rows: int, seed: int) -> pd.DataFrame:
    from faker import Faker

    fake = Faker("en_US", use_weighting=False)
    fake.seed_instance(seed)
    return pd.DataFrame({
        "id": range(rows),
        "email": [fake.email() for _ in range(rows)],
        "note": [f"call {fake.phone_number()}" if i % 4 == 0 else "nothing" for i in range(rows)],
        "amount": [i * 0.5 for i in range(rows)],
    })


def _partitioned(root: Path) -> Path:
    """A partitioned table (three Parquet parts) next to a text document."""
    table = root / "events"
    table.mkdir(parents=True)
    for i in range(3):
        _frame(400, i).to_parquet(table / f"part-{i}.parquet", index=False)
    (table / "README.txt").write_text("owner: jane.doe@example.com, ssn 078-05-1120\n")
    return table


def test_scan_engine_dask_is_identical(tmp_path: Path, cluster: Any,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    table = _partitioned(tmp_path)
    code, local, err = run_cli(capsys, "privacy", "scan", str(table), "-f", "json")
    assert code == 1, err  # PII found
    code, dask, err = run_cli(capsys, "privacy", "scan", str(table), "-f", "json",
                              "--engine", "dask", "--scheduler", cluster.scheduler_address)
    assert code == 1, err
    assert json.loads(dask) == json.loads(local)
    files = json.loads(local)["files"]
    assert sorted(f["kind"] for f in files) == ["table", "table", "table", "text"]
    assert all("EMAIL_ADDRESS" in f["entities"] for f in files)


def test_redact_engine_dask_is_identical(tmp_path: Path, cluster: Any, ws: Any,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "people.parquet"
    _frame(2000, 7).to_parquet(src, index=False, row_group_size=250)
    common = ["-w", str(ws.root), "-f", "json"]
    code, out, err = run_cli(capsys, "privacy", "redact", str(src), "-o",
                             str(tmp_path / "one.parquet"), *common)
    assert code == 0, err
    code, dout, err = run_cli(capsys, "privacy", "redact", str(src), "-o",
                              str(tmp_path / "dask.parquet"), *common, "--engine", "dask",
                              "--scheduler", cluster.scheduler_address)
    assert code == 0, err
    one, two = json.loads(out), json.loads(dout)
    assert two["redacted"] == one["redacted"] and two["columns"] == one["columns"]
    assert two["verdict"] == one["verdict"] == "pass" and two["residual_values"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "one.parquet"),
                                  pd.read_parquet(tmp_path / "dask.parquet"))
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no parts left
    code, _, err = run_cli(capsys, "ledger", "verify", "-w", str(ws.root))
    assert code == 0, err


def test_engine_errors_are_one_line(tmp_path: Path, ws: Any,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("email\njane@example.com\n")
    code, _, err = run_cli(capsys, "privacy", "redact", str(csv), "-o", str(tmp_path / "o.csv"),
                           "-w", str(ws.root), "--engine", "dask")
    assert code == 2 and "--engine dask redacts a Parquet table" in err
    code, _, err = run_cli(capsys, "privacy", "scan", str(csv), "--scheduler", "tcp://x:1")
    assert code == 2 and "--scheduler needs --engine dask" in err
    code, _, err = run_cli(capsys, "privacy", "scan", str(csv), "--engine", "spark")
    assert code == 2 and "--engine 'spark'" in err
    assert "Traceback" not in err and not (tmp_path / "o.csv").exists()
