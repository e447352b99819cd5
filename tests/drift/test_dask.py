"""The Dask engine (a LocalCluster in this process, one worker) gives the in-memory verdicts,
and on the same bin edges exactly the in-memory binned statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.drift.conftest import run_cli

from cpmap.drift.engine import compare
from cpmap.drift.frame import Side
from cpmap.errors import InputError


def _tables(tmp: Path) -> tuple[pd.DataFrame, pd.DataFrame, Path, Path]:
    import dask.dataframe as dd

    rng = np.random.default_rng(0)
    n = 6000
    ref = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(5)})
    cur = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(5)})
    cur["f3"] += 0.5
    cur.loc[cur.index[:900], "f1"] = np.nan
    ref["c"] = rng.choice(list("abc"), n)
    cur["c"] = rng.choice(list("abcd"), n, p=[.3, .3, .2, .2])
    dd.from_pandas(ref, npartitions=3).to_parquet(tmp / "ref", write_index=False)
    dd.from_pandas(cur, npartitions=4).to_parquet(tmp / "cur", write_index=False)
    return ref, cur, tmp / "ref", tmp / "cur"


def test_dask_verdicts_equal_the_in_memory_path(tmp_path: Path) -> None:
    from cpmap.drift.dask_engine import compare_parquet

    ref, cur, rp, cp = _tables(tmp_path)
    dk = compare_parquet(rp, cp, processes=False, workers=1)
    exact = compare(Side(ref, "r"), Side(cur, "c"))
    binned = compare(Side(ref, "r"), Side(cur, "c"), binned=True)
    verdicts = {f.name: f.drift for f in dk.features}
    assert verdicts == {f.name: f.drift for f in exact.features}
    assert {n for n, v in verdicts.items() if v} == {"f3", "c", "f1 [missing]"}
    for a, b in zip(dk.features, binned.features, strict=True):  # same edges: same numbers
        assert a.name == b.name and a.test == b.test
        assert a.statistic == pytest.approx(b.statistic, rel=1e-9)
        assert a.p_value == pytest.approx(b.p_value, rel=1e-9, abs=1e-300)
    assert dk.engine == "dask" and dk.reference["rows"] == 6000
    assert dk.multivariate.drift is True and exact.multivariate.drift is True


def test_dask_refuses_what_is_not_parquet(tmp_path: Path) -> None:
    from cpmap.drift.dask_engine import compare_parquet

    (tmp_path / "x.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="x.parquet"):
        compare_parquet(tmp_path / "x.parquet", tmp_path / "x.parquet", processes=False,
                        workers=1)


def _cli_verdicts(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, bool]]:
    import json

    code, out, err = run_cli(capsys, "monitor", "drift", *args, "-f", "json")
    assert out, err
    return code, {f["name"]: f["drift"] for f in json.loads(out)["features"]}


def test_the_cli_engine_dask_on_a_local_cluster_gives_the_in_memory_verdicts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib

    dist = importlib.import_module("distributed")
    _, _, rp, cp = _tables(tmp_path)
    memory = _cli_verdicts(capsys, str(rp), str(cp))
    with dist.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                           protocol="tcp", host="127.0.0.1", dashboard_address=None) as lc:
        dask = _cli_verdicts(capsys, str(rp), str(cp), "--engine", "dask",
                             "--scheduler", lc.scheduler_address)
    assert dask == memory and memory[0] == 1
    assert {n for n, v in dask[1].items() if v} == {"f3", "c", "f1 [missing]"}
    code, _, err = run_cli(capsys, "monitor", "drift", str(rp), str(cp), "--engine", "spark")
    assert code == 2 and "--engine 'spark'" in err


@pytest.mark.slow
def test_the_cli_engine_dask_makes_its_own_local_cluster(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, rp, cp = _tables(tmp_path)
    assert _cli_verdicts(capsys, str(rp), str(cp), "--engine", "dask") == \
        _cli_verdicts(capsys, str(rp), str(cp))
