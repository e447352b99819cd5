from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace
from cpmap.errors import InputError
from cpmap.privacy.detect import RegexAnalyzer
from cpmap.privacy.scan import scan_path

from .conftest import ASSETS

Cli = Callable[..., tuple[int, str, str]]
PII = {"name": "PERSON", "email": "EMAIL_ADDRESS", "phone": "PHONE_NUMBER", "ssn": "US_SSN",
       "credit_card": "CREDIT_CARD", "iban": "IBAN_CODE", "ip_address": "IP_ADDRESS",
       "zip": "LOCATION", "city": "LOCATION"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_table_columns(tmp_path: Path, customers_frame: pd.DataFrame, suffix: str) -> None:
    path = tmp_path / f"c{suffix}"
    if suffix == ".csv":
        customers_frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        customers_frame.to_parquet(path, index=False)
    else:
        customers_frame.to_json(path, orient="records", lines=True)
    result = scan_path(path, RegexAnalyzer(), sample_rows=120)
    got = {c.column: c.entity for c in result.columns if c.pii}
    assert got == PII
    assert result.rows_total == 300 and result.rows_sampled == 120
    assert all(not c.pii for c in result.columns if c.column in ("age", "income", "default"))


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_missing_values_in_typed_tables(tmp_path: Path, suffix: str) -> None:
    # pandas 3 keeps missing cells as NaN through astype(str): the scan crashed on them
    frame = pd.DataFrame({"email": ["a.b@example.com", None, "c.d@example.org"] * 5,
                          "score": [0.5, None, float("nan")] * 5})
    path = tmp_path / f"t{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    result = scan_path(path, RegexAnalyzer())
    assert {c.column: c.entity for c in result.columns if c.pii} == {"email": "EMAIL_ADDRESS"}


def test_free_text_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"note": ["all good, nothing to report today"] * 8
                          + ["please mail me at jane.roe@example.org thanks"] * 2})
    frame.to_csv(tmp_path / "n.csv", index=False)
    col = scan_path(tmp_path / "n.csv", RegexAnalyzer()).columns[0]
    assert (col.pii, col.mode, col.entity) == (True, "free-text", "EMAIL_ADDRESS")


def test_cli_scan_exit_codes_and_json(cli: Cli, tmp_path: Path) -> None:
    code, out, _ = cli("privacy", "scan", str(ASSETS / "pii_positive.txt"), "-f", "json")
    assert code == 1
    data = json.loads(out)
    hits = data["files"][0]["findings"]
    assert {"entity", "start", "end", "score", "snippet"} <= set(hits[0])
    assert "4111 1111 1111 1111" not in out and "219-09-9998" not in out
    assert data["verdict"] == "fail"
    entry = Ledger_entry(cli, data["entry"])
    assert entry["control"] == "CP2" and entry["verdict"] == "fail"
    code, _, _ = cli("privacy", "scan", str(ASSETS / "pii_negative.txt"))
    assert code == 0


def Ledger_entry(cli: Cli, index: int) -> dict[str, object]:  # noqa: N802 - reads like a type
    code, out, _ = cli("ledger", "show", "-f", "json")
    assert code == 0
    return next(e for e in json.loads(out)["entries"] if e["index"] == index)


def test_cli_scan_sarif(cli: Cli) -> None:
    code, out, _ = cli("privacy", "scan", str(ASSETS / "pii_positive.txt"), "-f", "sarif")
    assert code == 1
    sarif = json.loads(out)
    rules = {r["ruleId"] for r in sarif["runs"][0]["results"]}
    assert "CP2-PII-CREDIT_CARD" in rules


def test_bad_inputs(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="bad.parquet"):
        scan_path(bad, RegexAnalyzer())
    code, _, err = cli("privacy", "scan", str(tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv" in err
    code, _, err = cli("privacy", "scan", str(bad))
    assert code == 2 and "not a readable PARQUET" in err
    ragged = tmp_path / "ragged.csv"  # pandas would make the names an index nobody scans
    ragged.write_text("name,email\nJohn Smith,x,john@example.com\nJane Doe,y,jane@ex.com\n")
    with pytest.raises(InputError, match="ragged.csv: .*more fields than the header"):
        scan_path(ragged, RegexAnalyzer())
    code, _, err = cli("privacy", "redact", str(ragged), "-o", str(tmp_path / "out.csv"))
    assert code == 2 and "ragged.csv" in err and not (tmp_path / "out.csv").exists()
    empty = tmp_path / "empty dir"
    empty.mkdir()
    code, _, err = cli("privacy", "scan", str(empty))
    assert code == 2 and err.startswith(f"cpmap: error: {empty}: directory holds no file")


def test_scan_evidence_subjects_are_file_digests(ws: Workspace, customers_csv: Path) -> None:
    from cpmap.privacy.scan import record_scan
    from cpmap.provenance.fingerprint import hash_file

    result = scan_path(customers_csv, RegexAnalyzer())
    idx = record_scan(ws, [result], "cpmap", "direct")
    st = Ledger(ws).get(idx).statement
    assert st["subject"][0]["digest"]["sha256"] == hash_file(customers_csv)[0]


def test_presidio_backend_same_interface() -> None:
    pytest.importorskip("presidio_analyzer")
    from cpmap.privacy.presidio_backend import PresidioAnalyzer

    a = PresidioAnalyzer()
    text = "mail jane@example.org card 4111 1111 1111 1111"
    assert {m.entity for m in a.analyze(text)} >= {"EMAIL_ADDRESS", "CREDIT_CARD"}
