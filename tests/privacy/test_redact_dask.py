"""Redaction of a partitioned Parquet table on Dask: the same rows and counts as the
single-process path, the output directory only when every part is written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cpmap.errors import InputError
from cpmap.privacy.distributed import redact_table_dask, row_group_tasks
from cpmap.privacy.redact import Plan, redact_table_file
from cpmap.privacy.scan import make_analyzer
from cpmap.privacy.transform import Replacer, Strategy

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def _table(path: Path, rows: int = 2400) -> Path:
    from faker import Faker

    fake = Faker("en_US", use_weighting=False)
    fake.seed_instance(11)
    frame = pd.DataFrame({
        "id": range(rows),
        "email": [fake.email() for _ in range(rows)],
        "name": [fake.name() for _ in range(rows)],
        "note": [f"call {fake.phone_number()} or mail {fake.email()}" if i % 3 == 0
                 else "nothing to see" for i in range(rows)],
        "amount": [round(i * 1.5, 2) for i in range(rows)],
    })
    frame.loc[5, "email"] = None
    frame.to_parquet(path, index=False, row_group_size=300)
    return path


@pytest.mark.parametrize("strategy", [Strategy.hash, Strategy.mask])
def test_dask_redaction_is_identical(tmp_path: Path, client: Any, strategy: Strategy) -> None:
    src = _table(tmp_path / "people.parquet")
    analyzer, plan = make_analyzer(), Plan(default=strategy)
    rep = Replacer(b"k" * 32)
    targets, counts = redact_table_file(src, tmp_path / "one.parquet", analyzer, plan, rep)
    d_targets, d_counts = redact_table_dask(src, tmp_path / "parts", analyzer, plan,
                                            Replacer(b"k" * 32), client=client)
    assert [t.column for t in targets] == [t.column for t in d_targets]
    assert {"email", "name", "note"} <= {t.column for t in targets}
    assert d_counts == counts and counts["EMAIL_ADDRESS"] > 2400
    parts = sorted((tmp_path / "parts").iterdir())
    assert len(parts) == len(row_group_tasks(src, 8)) > 1
    single = pd.read_parquet(tmp_path / "one.parquet")
    spread = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(single, spread)
    original = set(pd.read_parquet(src)["email"].dropna())
    assert not original & set(spread["email"].dropna())  # no address survives


def test_bad_inputs_change_nothing(tmp_path: Path, client: Any) -> None:
    src = _table(tmp_path / "people.parquet", rows=600)
    analyzer, plan, rep = make_analyzer(), Plan(), Replacer(b"k" * 32)
    (tmp_path / "taken").mkdir()
    with pytest.raises(InputError, match="already exists"):
        redact_table_dask(src, tmp_path / "taken", analyzer, plan, rep, client=client)
    csv = tmp_path / "t.csv"
    csv.write_text("a\n1\n")
    with pytest.raises(InputError, match="Parquet file"):
        redact_table_dask(csv, tmp_path / "o", analyzer, plan, rep, client=client)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.parquet", "t.csv", "taken"]


def test_the_replacement_cache_is_bounded_and_changes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cpmap.privacy import transform

    values = [f"user{i % 7}@example.com" for i in range(50)]
    want = [Replacer(b"k" * 32)(Strategy.hash, "EMAIL_ADDRESS", v) for v in values]
    monkeypatch.setattr(transform, "MAX_CACHE", 3)
    rep = Replacer(b"k" * 32)
    assert [rep(Strategy.hash, "EMAIL_ADDRESS", v) for v in values] == want
    assert len(rep._cache) <= 3  # noqa: SLF001 - the bound is what this test is about
