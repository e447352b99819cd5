"""A store writer without the signing key edits a side table: the deciding reader refuses and
``ledger verify`` names the table and row. Each attack on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, update

from cpmap.core.derived_tables import check_derived
from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.keys import SigningKey
from cpmap.core.ledger import Ledger
from cpmap.core.store import ledger_entries
from cpmap.core.verified import IntegrityError
from cpmap.errors import TrustError

pytestmark = pytest.mark.postgres


def run(ws: Any, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``cpmap ARGS`` in-process against ``ws``: (exit code, stdout, stderr)."""
    from cpmap.cli import main

    capsys.readouterr()
    try:
        main([*args, "--workspace", str(ws.root)])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _verify_fails(ws: Any, table: str) -> str:
    with pytest.raises(IntegrityError) as err:
        check_derived(ws)
    assert f"store table {table}" in err.value.message
    return err.value.message


def test_clean_store_verifies_every_derived_table(any_ws: Any, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from cpmap.models.trust import trust
    from cpmap.privacy.budget import spend

    trust(any_ws, "ab" * 32, "reviewed by test")
    spend(any_ws, "digits", 1.0, "query")
    counts = check_derived(any_ws)
    assert counts["trusted_pickles"] == 1 and counts["privacy_spends"] == 1
    assert counts["ledger_subjects"] == 2 and counts["model_aliases"] == 0
    code, _out, err = run(any_ws, capsys, "ledger", "verify")
    assert code == 0 and "rows checked against the signed log" in err


# -- code execution through trusted_pickles ------------------------------------------------------

def _pickle(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_inserted_trusted_pickle_is_refused(any_ws: Any, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from cpmap.models.tables import trusted_pickles
    from cpmap.models.trust import trusted_digests

    path, digest = _pickle(tmp_path)
    record(Evidence("CP1", "test", [Subject("x", "cd" * 32)], Verdict.PASS), any_ws)
    with any_ws.store.write() as conn:  # the attack: a row naming an existing entry
        conn.execute(insert(trusted_pickles).values(digest=digest, note="x", created_at="now",
                                                    entry=0))
    with pytest.raises(IntegrityError, match="trusted_pickles row digest"):
        trusted_digests(any_ws)
    code, _out, err = run(any_ws, capsys, "models", "add", str(path), "--name", "m")
    assert code == 1 and "store table trusted_pickles" in err
    _verify_fails(any_ws, "trusted_pickles")


def test_trusted_pickle_repointed_to_another_trust_is_refused(any_ws: Any, tmp_path: Path
                                                              ) -> None:
    from cpmap.models.tables import trusted_pickles
    from cpmap.models.trust import trust, trusted_digests

    _path, digest = _pickle(tmp_path)
    index = trust(any_ws, "ab" * 32, "reviewed")
    assert trusted_digests(any_ws) == {"ab" * 32}
    with any_ws.store.write() as conn:
        conn.execute(insert(trusted_pickles).values(digest=digest, note="x", created_at="now",
                                                    entry=index))
    with pytest.raises(IntegrityError, match="not this digest"):
        trusted_digests(any_ws)


def test_trusting_a_malicious_scan_needs_the_flag(any_ws: Any,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from cpmap.supplychain.predicates import ModelScan

    digest = "ef" * 32
    scan = record(Evidence.of(ModelScan(verdict=Verdict.FAIL, files=1, malicious=1),
                              [Subject("evil.pkl", digest)]), any_ws)
    with pytest.raises(TrustError, match="calls this file malicious"):
        from cpmap.models.trust import trust

        trust(any_ws, digest, "reviewed")
    code, _out, _err = run(any_ws, capsys, "models", "trust", digest, "--note", "lab only",
                           "--i-know-this-runs-code")
    assert code == 0
    details = Ledger(any_ws).entries(kind="model-pickle-trust")[-1].predicate["details"]
    assert details["scan_verdict"] == "malicious" and details["scan_entry"] == scan.index
    assert details["runs_code_acknowledged"] is True


# -- forged supplier trust through trusted_keys --------------------------------------------------

def test_inserted_supplier_key_is_refused(any_ws: Any, tmp_path: Path) -> None:
    from cpmap.provenance import manifest, trust
    from cpmap.provenance.datasets import register_dataset
    from cpmap.provenance.tables import trusted_keys

    data = tmp_path / "d"
    data.mkdir()
    (data / "a.txt").write_text("rows\n")
    evil = SigningKey.generate("evil")
    att = tmp_path / "att.json"
    att.write_text(manifest.dump(manifest.sign(data, evil)))
    with any_ws.store.write() as conn:  # the attack
        conn.execute(insert(trusted_keys).values(name="evil", keyid=evil.keyid,
                                                 pem=evil.public.pem().decode(), added_at="now",
                                                 entry=0))
    with pytest.raises(IntegrityError, match="trusted_keys row name 'evil'"):
        register_dataset(any_ws, "sup", data, supplier="evil", attestation=att)
    with pytest.raises(IntegrityError):
        trust.trusted_public_keys(any_ws)
    _verify_fails(any_ws, "trusted_keys")


def test_swapped_supplier_pem_is_refused(any_ws: Any, tmp_path: Path) -> None:
    from cpmap.provenance import trust
    from cpmap.provenance.tables import trusted_keys

    good = SigningKey.generate("acme")
    good.save(tmp_path / "acme.pem", tmp_path / "acme.pub")
    trust.add_key(any_ws, "acme", tmp_path / "acme.pub")
    assert [k.name for k in trust.list_keys(any_ws)] == ["acme"]
    evil = SigningKey.generate("acme")
    with any_ws.store.write() as conn:
        conn.execute(update(trusted_keys).values(pem=evil.public.pem().decode()))
    with pytest.raises(IntegrityError, match=r"row name .acme.: key is .*\(edited\)"):
        trust.get_key(any_ws, "acme")


# -- privacy budget reset through privacy_spends -------------------------------------------------

def test_deleted_spends_do_not_restore_the_budget(any_ws: Any) -> None:
    from cpmap.privacy.budget import spend, status
    from cpmap.privacy.tables import privacy_spends

    spend(any_ws, "digits", 6.0, "query one")
    spend(any_ws, "digits", 3.0, "query two")
    assert status(any_ws, "digits").remaining == pytest.approx(1.0)
    with any_ws.store.write() as conn:  # the attack
        conn.execute(delete(privacy_spends))
    with pytest.raises(IntegrityError, match="privacy_spends row entry 0: missing"):
        spend(any_ws, "digits", 5.0, "query three")
    with pytest.raises(IntegrityError):
        status(any_ws, "digits")
    _verify_fails(any_ws, "privacy_spends")


def test_edited_spend_amount_is_refused(any_ws: Any) -> None:
    from cpmap.privacy.budget import spend
    from cpmap.privacy.tables import privacy_spends

    spend(any_ws, "digits", 6.0, "query one")
    with any_ws.store.write() as conn:
        conn.execute(update(privacy_spends).values(epsilon=0.5))
    with pytest.raises(IntegrityError, match="epsilon is 0.5, ledger entry #0 signed 6.0"):
        spend(any_ws, "digits", 1.0, "query two")


# -- denormalised ledger columns -----------------------------------------------------------------

def test_edited_verdict_and_kind_columns_change_nothing_shown(
        any_ws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    record(Evidence("CP3", "model-scan", [Subject("m", "aa" * 32)], Verdict.FAIL), any_ws)
    with any_ws.store.write() as conn:  # the attack: make the failing scan look like a pass
        conn.execute(update(ledger_entries).values(
            verdict="pass", control="CP9", kind="https://cpmap.dev/evidence/other/v1"))
    code, out, _err = run(any_ws, capsys, "ledger", "show", "-f", "json", "--control", "CP3")
    assert code == 0
    [entry] = json.loads(out)["entries"]
    assert (entry["verdict"], entry["kind"], entry["control"]) == ("fail", "model-scan", "CP3")
    assert [e.index for e in Ledger(any_ws).entries(kind="model-scan")] == [0]
    message = _verify_fails(any_ws, "ledger_entries")
    assert "column control is 'CP9'" in message
    code, _out, err = run(any_ws, capsys, "ledger", "verify")
    assert code == 1 and "ledger_entries row idx 0" in err


def test_unreadable_entry_is_an_integrity_failure(any_ws: Any,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    record(Evidence("CP1", "test", [Subject("m", "aa" * 32)], Verdict.PASS), any_ws)
    with any_ws.store.write() as conn:
        conn.execute(update(ledger_entries).values(envelope=b"not json"))
    code, _out, err = run(any_ws, capsys, "ledger", "show")
    assert code == 1 and "ledger index 0: entry is not a valid DSSE envelope" in err


# -- timestamps are the signed ones --------------------------------------------------------------

def test_edited_created_at_column_changes_nothing_shown(any_ws: Any,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    entry = record(Evidence("CP1", "test", [Subject("m", "aa" * 32)], Verdict.PASS), any_ws)
    signed = entry.statement["predicate"]["timestamp"]
    with any_ws.store.write() as conn:  # the attack: backdate the evidence
        conn.execute(update(ledger_entries).values(created_at="1999-01-01T00:00:00+00:00"))
    code, out, _err = run(any_ws, capsys, "ledger", "show", "-f", "json")
    assert code == 0
    [shown] = json.loads(out)["entries"]
    assert shown["created_at"] == signed != "1999-01-01T00:00:00+00:00"
    assert Ledger(any_ws).get(0).created_at == signed


# -- trust only from signed entries, never from a file listing -----------------------------------

def test_config_listed_pickle_is_refused_until_signed(any_ws: Any, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, digest = _pickle(tmp_path)
    toml = any_ws.dir / "cpmap.toml"
    toml.write_text(toml.read_text() + f'\n[models]\ntrusted_pickle_digests = ["{digest}"]\n')
    code, _out, err = run(any_ws, capsys, "models", "add", str(path), "--name", "m")
    assert code == 1 and "only a signed ledger entry grants trust" in err
    assert Ledger(any_ws).size() == 0  # refused: nothing recorded, nothing loaded
    code, _out, err = run(any_ws, capsys, "models", "trust", "--from-config", "--note",
                          "reviewed by the test")
    assert code == 0 and f"trusted sha256:{digest[:16]}" in err
    [entry] = Ledger(any_ws).entries(kind="model-pickle-trust")
    assert entry.statement["subject"][0]["digest"]["sha256"] == digest


# -- access-policy changes are ledger entries ----------------------------------------------------

def test_access_policy_changes_are_signed_before_they_decide(any_ws: Any, tmp_path: Path) -> None:
    from cpmap.core.workspace import open_workspace
    from cpmap.provenance.datasets import open_dataset, register_dataset
    from cpmap.supplychain.access import AccessDenied

    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    register_dataset(any_ws, "d", data, source="builtin:test")
    toml = any_ws.dir / "cpmap.toml"
    base = toml.read_text()
    grant = '[access.roles.reader]\ngrants = [{ datasets = ["d"], actions = ["read"] }]\n'
    toml.write_text(base + '\n[access.principals]\nbob = ["reader"]\n' + grant)
    assert open_dataset("d", open_workspace(any_ws.root), principal="bob").name == "d"
    toml.write_text(base + '\n[access.principals]\nbob = []\n' + grant)  # bob loses access
    with pytest.raises(AccessDenied):
        open_dataset("d", open_workspace(any_ws.root), principal="bob")
    kinds = [e.summary()["kind"] for e in Ledger(any_ws).entries()]
    assert kinds == ["dataset-registration", "access-policy", "dataset-access", "access-policy",
                     "access-denied"]
    first, second = Ledger(any_ws).entries(kind="access-policy")
    assert second.predicate["details"]["previous_sha256"] == \
        first.predicate["details"]["policy_sha256"]
    assert second.predicate["details"]["policy"]["principals"] == {"bob": []}
