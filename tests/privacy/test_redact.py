from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.core.workspace import Workspace
from cpmap.errors import InputError
from cpmap.privacy import keys
from cpmap.privacy.detect import RegexAnalyzer
from cpmap.privacy.redact import Plan, parse_overrides, redact
from cpmap.privacy.scan import scan_path
from cpmap.privacy.transform import Strategy, mask
from cpmap.provenance.datasets import get_dataset

from .conftest import ASSETS

Cli = Callable[..., tuple[int, str, str]]
DIRECT_COLS = ["name", "email", "phone", "ssn", "credit_card", "iban", "ip_address"]


@pytest.mark.parametrize("strategy", ["mask", "hash", "encrypt", "drop"])
def test_table_strategies_leave_no_pii(ws: Workspace, customers_csv: Path,
                                       strategy: str) -> None:
    out = ws.root / f"out-{strategy}.csv"
    res = redact(ws, customers_csv, out, Plan(Strategy(strategy)), RegexAnalyzer())
    assert res.verdict == "pass" and res.residual_values == 0
    assert not scan_path(out, RegexAnalyzer()).pii
    frame = pd.read_csv(out)
    if strategy == "drop":
        assert not set(DIRECT_COLS) & set(frame.columns)
    else:
        assert len(frame) == 300
    dv = get_dataset(ws, res.output_ref)
    assert dv.parents == (get_dataset(ws, res.input_ref).digest,)


def test_fake_is_consistent_and_keeps_no_original(ws: Workspace, customers_csv: Path) -> None:
    plan = Plan(Strategy.fake, direct_only=True)
    a = redact(ws, customers_csv, ws.root / "a.csv", plan, RegexAnalyzer())
    b = redact(ws, customers_csv, ws.root / "b.parquet", plan, RegexAnalyzer())
    assert a.residual_values == 0 and a.verdict == "pass" and b.verdict == "pass"
    fa, fb = pd.read_csv(ws.root / "a.csv"), pd.read_parquet(ws.root / "b.parquet")
    assert fa["email"].tolist() == fb["email"].tolist()
    assert fa["zip"].tolist() == pd.read_csv(customers_csv)["zip"].tolist()  # quasi kept


def test_hash_pseudonyms_stable_across_files(ws: Workspace, tmp_path: Path) -> None:
    for name in ("one", "two"):
        pd.DataFrame({"email": ["jane@example.org", "joe@example.com", "x@example.net"],
                      "n": [1, 2, 3]}).to_csv(ws.root / f"{name}.csv", index=False)
        redact(ws, ws.root / f"{name}.csv", ws.root / f"{name}-r.csv", Plan(), RegexAnalyzer())
    one, two = pd.read_csv(ws.root / "one-r.csv"), pd.read_csv(ws.root / "two-r.csv")
    assert one["email"].tolist() == two["email"].tolist()
    assert one["email"][0].startswith("EMAIL_") and one["email"][0] != one["email"][1]


def test_text_redaction_and_encrypt_roundtrip(ws: Workspace, cli: Cli) -> None:
    src = ws.root / "notes.txt"
    src.write_text((ASSETS / "pii_positive.txt").read_text())
    code, out, _ = cli("privacy", "redact", str(src), "-o", str(ws.root / "enc.txt"),
                       "--strategy", "encrypt", "-f", "json")
    assert code == 0
    data = json.loads(out)
    assert data["verdict"] == "pass" and data["redacted"]["CREDIT_CARD"] == 1
    enc = (ws.root / "enc.txt").read_text()
    assert "4111 1111" not in enc and "enc:v1:CREDIT_CARD:" in enc
    code, _, _ = cli("privacy", "decrypt", str(ws.root / "enc.txt"), "-o",
                     str(ws.root / "dec.txt"))
    assert code == 0
    assert (ws.root / "dec.txt").read_text() == src.read_text()
    assert os.stat(ws.root / "dec.txt").st_mode & 0o777 == 0o600
    from cpmap.core.ledger import Ledger

    assert Ledger(ws).entries(kind="pii-decryption")


def test_keys_are_private_and_stable(ws: Workspace) -> None:
    k1 = keys.hmac_key(ws)
    assert keys.hmac_key(ws) == k1
    path = ws.dir / "keys" / keys.HMAC_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(Exception, match="readable by others"):
        keys.hmac_key(ws)


def test_cli_decrypt_names_the_file_of_a_foreign_token(ws: Workspace, cli: Cli) -> None:
    src = ws.root / "foreign.csv"
    src.write_text("a\nenc:v1:US_SSN:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n")
    code, _, err = cli("privacy", "decrypt", str(src), "-o", str(ws.root / "plain.csv"))
    assert code == 2 and err.startswith(f"cpmap: error: {src}: encrypted token does not")
    assert not (ws.root / "plain.csv").exists()


def test_decrypt_refuses_foreign_token(ws: Workspace) -> None:
    token = keys.encrypt(bytes(32), "US_SSN", "219-09-9998")
    with pytest.raises(InputError, match="does not decrypt"):
        keys.decrypt(keys.aes_key(ws), token)


def test_mask_keeps_last_four_only_for_numbers() -> None:
    assert mask("CREDIT_CARD", "4111 1111 1111 1111") == "**** **** **** 1111"
    assert mask("PERSON", "Jane Roe") == "**** ***"


def test_per_column_and_entity_overrides(ws: Workspace, customers_csv: Path) -> None:
    plan = Plan(Strategy.hash, parse_overrides(["email=drop"], "column"),
                parse_overrides(["us_ssn=mask"], "entity"))
    res = redact(ws, customers_csv, ws.root / "o.csv", plan, RegexAnalyzer())
    frame = pd.read_csv(ws.root / "o.csv")
    assert "email" not in frame.columns
    assert frame["ssn"].str.startswith("***-**-").all()
    assert {t.column: t.strategy.value for t in res.targets}["name"] == "hash"


def test_bad_redact_inputs(ws: Workspace, customers_csv: Path, cli: Cli) -> None:
    with pytest.raises(InputError, match="expected NAME=STRATEGY"):
        parse_overrides(["email"], "column")
    with pytest.raises(InputError, match="must not overwrite"):
        redact(ws, customers_csv, customers_csv, Plan(), RegexAnalyzer())
    code, _, err = cli("privacy", "redact", str(customers_csv), "-o", str(ws.root / "x.csv"),
                       "--column", "nope=hash")
    assert code == 2 and "nope" in err
    assert not (ws.root / "x.csv").exists()
    from cpmap.provenance.datasets import list_datasets

    assert list_datasets(ws) == []  # nothing registered either
    folder = ws.root / "a folder.csv"
    folder.mkdir()
    for args in (("redact", "-o", "x.csv"), ("decrypt", "-o", "x.csv"), ("assess", "-q", "age")):
        code, _, err = cli("privacy", args[0], str(folder), *args[1:])
        assert code == 2 and f"{folder}: is a directory, expected a file" in err, err


@pytest.mark.parametrize("command", [
    ("redact",), ("decrypt",), ("synthesize", "-n", "5"),
    ("anonymize", "-q", "age,gender", "--k", "2"),
])
def test_unwritable_output_is_bad_input_and_changes_nothing(ws: Workspace, customers_csv: Path,
                                                            cli: Cli, command: tuple[str, ...]
                                                            ) -> None:
    from cpmap.core.ledger import Ledger

    (ws.root / "a dir.csv").mkdir()
    size = Ledger(ws).size()
    for out, problem in ((ws.root / "a dir.csv", "is a directory"),
                         (customers_csv / "x.csv", "is not a directory")):
        code, _, err = cli("privacy", command[0], str(customers_csv), "-o", str(out),
                           *command[1:])
        assert code == 2 and err.startswith(f"cpmap: error: {out}: ") and problem in err, err
        assert err.strip().count("\n") == 0
    assert Ledger(ws).size() == size  # no dataset registered, no access, no budget spent


@pytest.mark.parametrize("command", [("synthesize", "-n", "5"),
                                     ("anonymize", "-q", "age,gender", "--k", "2")])
def test_output_must_not_overwrite_the_input(ws: Workspace, customers_csv: Path, cli: Cli,
                                             command: tuple[str, ...]) -> None:
    before = customers_csv.read_bytes()
    code, _, err = cli("privacy", command[0], str(customers_csv), "-o", str(customers_csv),
                       *command[1:])
    assert code == 2 and "must not overwrite the input" in err
    assert customers_csv.read_bytes() == before


def test_untouched_csv_cells_keep_their_text(ws: Workspace) -> None:
    src = ws.root / "z.csv"
    src.write_text("email,zip,amount\njane@example.org,02134,1.50\njoe@example.com,00501,2\n")
    redact(ws, src, ws.root / "z-r.csv", Plan(Strategy.mask, direct_only=True), RegexAnalyzer())
    lines = (ws.root / "z-r.csv").read_text().splitlines()
    assert lines[1].endswith(",02134,1.50") and lines[2].endswith(",00501,2")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from([
    "jane@example.org", "(212) 555-0143", "4111 1111 1111 1111", "219-09-9998", "lorem é",
    "ipsum dolor", "203.0.113.7", "\n", "12:30", "GB82WEST12345698765432", "ü€"]), max_size=50),
    st.integers(min_value=1, max_value=5))
def test_streamed_text_redaction_equals_whole_text(tmp_path_factory: pytest.TempPathFactory,
                                                   parts: list[str], chunk_kb: int) -> None:
    from collections import Counter

    from cpmap.privacy.redact import redact_string, redact_text_file
    from cpmap.privacy.transform import Replacer

    text = " ".join(parts)
    d = tmp_path_factory.mktemp("r")
    (d / "in.txt").write_text(text, encoding="utf-8")
    rep = Replacer(b"k" * 32)
    plan = Plan(Strategy.mask)
    counts, _seen = redact_text_file(d / "in.txt", d / "out.txt", RegexAnalyzer(), plan, rep,
                                     chunk=chunk_kb * 64)
    whole: Counter[str] = Counter()
    assert (d / "out.txt").read_text(encoding="utf-8") == redact_string(
        text, RegexAnalyzer(), plan, rep, whole)
    assert counts == whole
