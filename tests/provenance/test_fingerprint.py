"""File and tree fingerprints, and table content digests."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpmap.errors import InputError
from cpmap.provenance.fingerprint import diff, fingerprint, hash_file
from cpmap.provenance.table import table_digest


def test_file_digest_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # > one chunk
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    assert hash_file(f) == (hashlib.sha256(data).hexdigest(), len(data))
    fp = fingerprint(f)
    assert fp.kind == "file" and fp.digest == hashlib.sha256(data).hexdigest()


def test_tree_root_is_sha256sum_listing(tmp_path: Path) -> None:
    root = tmp_path / "t"
    for i in range(30):
        p = root / f"d{i % 3}" / f"f{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"file {i}\n" * i)
    (root / ".cpmap").mkdir()
    (root / ".cpmap" / "ignored").write_text("x")
    fp = fingerprint(root, workers=4)
    assert len(fp.files) == 30
    assert fingerprint(root, workers=1).digest == fp.digest
    names = sorted(f.path for f in fp.files)
    listing = subprocess.run(["sha256sum", *names], cwd=root, capture_output=True,
                             check=True).stdout
    assert hashlib.sha256(listing).hexdigest() == fp.digest


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "a").write_text("a")
    outside = tmp_path / "secret"
    outside.write_text("s")
    (root / "link").symlink_to(outside)
    assert [f.path for f in fingerprint(root).files] == ["a"]


def test_missing_path_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        fingerprint(tmp_path / "nope")


def test_diff() -> None:
    d = diff({"a": "1", "b": "2", "c": "3"}, {"a": "1", "b": "x", "d": "4"})
    assert (d.modified, d.missing, d.added) == (("b",), ("c",), ("d",))


def test_table_digest_independent_of_encoding(tmp_path: Path) -> None:
    df = pd.DataFrame({"id": [1, 2, 3], "x": [0.5, None, 2.0], "s": ["a", None, "c|d\x1fe"],
                       "t": pd.to_datetime(["2020-01-01 00:00:00", "2021-02-03 04:05:06",
                                            "2022-01-01 00:00:00"])})
    df.to_csv(tmp_path / "a.csv", index=False)
    df.to_csv(tmp_path / "b.csv", index=False, lineterminator="\r\n", quoting=1)
    df.to_parquet(tmp_path / "c.parquet", compression="zstd")
    df.to_parquet(tmp_path / "d.parquet", compression=None, row_group_size=1)
    digests = {table_digest(tmp_path / n).digest for n in ("a.csv", "b.csv", "c.parquet",
                                                           "d.parquet")}
    assert len(digests) == 1
    df.iloc[::-1].to_csv(tmp_path / "e.csv", index=False)
    assert table_digest(tmp_path / "e.csv").digest not in digests


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(-10**9, 10**9),
                          st.floats(allow_nan=False, allow_infinity=False, width=64),
                          st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
                                  min_size=1, max_size=8)),
                min_size=1, max_size=30))
def test_csv_and_parquet_agree(tmp_path: Path, rows: list[tuple[int, float, str]]) -> None:
    df = pd.DataFrame(rows, columns=["i", "f", "s"])
    df["s"] = df["s"].where(df["s"].str.strip() != "", "x")
    df.to_csv(tmp_path / "h.csv", index=False)
    df.to_parquet(tmp_path / "h.parquet")
    assert table_digest(tmp_path / "h.csv").digest == table_digest(tmp_path / "h.parquet").digest


def test_corrupt_parquet_is_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="bad.parquet"):
        table_digest(bad)
