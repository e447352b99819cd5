"""Dataset registration, supplier trust, access integrity and lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cpmap.core.keys import SigningKey
from cpmap.core.ledger import Ledger, verify_ledger
from cpmap.errors import InputError, TrustError, VerificationFailed, WorkspaceError
from cpmap.provenance import manifest, trust
from cpmap.provenance.datasets import get_dataset, open_dataset, register_dataset
from cpmap.provenance.lineage import lineage_of, transform


def _data(tmp_path: Path, name: str = "d") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "a.txt").write_text("alpha\n")
    (d / "b.txt").write_text("beta\n")
    return d


def test_register_versions_and_idempotence(any_ws: Any, tmp_path: Path) -> None:
    d = _data(tmp_path)
    v1 = register_dataset(any_ws, "ds", d, license="CC0-1.0")
    assert v1.ref == "ds@1" and v1.files == 2
    assert register_dataset(any_ws, "ds", d).ref == "ds@1"
    (d / "c.txt").write_text("gamma\n")
    assert register_dataset(any_ws, "ds", d).ref == "ds@2"
    assert get_dataset(any_ws, "ds").version == 2
    assert get_dataset(any_ws, "ds@1").digest == v1.digest
    verify_ledger(Ledger(any_ws))


def test_untrusted_source_refused_unless_allowed(ws: Any, tmp_path: Path) -> None:
    d = _data(tmp_path)
    with pytest.raises(TrustError, match="not in the trusted sources"):
        register_dataset(ws, "web", d, source="https://evil.example/data.zip")
    dv = register_dataset(ws, "web", d, source="https://evil.example/data.zip",
                          allow_untrusted=True)
    entry = Ledger(ws).entries(kind="dataset-registration")[-1]
    assert entry.predicate["verdict"] == "warn"
    assert entry.predicate["findings"][0]["rule_id"] == "CP1-UNTRUSTED-SOURCE"
    assert dv.ref == "web@1"


def test_malformed_trusted_sources_setting_is_a_clear_error(ws: Any, tmp_path: Path) -> None:
    # e.g. CPMAP_SOURCES_TRUSTED=5: a number, not a list of patterns
    ws.config.setdefault("sources", {})["trusted"] = 5
    size = Ledger(ws).size()
    with pytest.raises(WorkspaceError, match=r"\[sources\] trusted must be a list"):
        register_dataset(ws, "d", _data(tmp_path))
    assert Ledger(ws).size() == size


@pytest.mark.parametrize("statement", [
    {"subject": [5], "predicate": {}},
    {"subject": [{"name": "a.txt"}], "predicate": {}},
    {"subject": [{"name": "a.txt", "digest": {"sha256": "00"}}], "predicate": "x"},
    {"subject": [], "predicate": {"digest": "x"}},
])
def test_malformed_signed_manifest_is_bad_input(tmp_path: Path, statement: dict[str, Any]
                                                ) -> None:
    import json

    from cpmap.core import dsse

    st = {"_type": "https://in-toto.io/Statement/v1", "predicateType": manifest.MANIFEST_TYPE,
          **statement}
    att = tmp_path / "att.json"
    att.write_text(manifest.dump(dsse.sign(json.dumps(st).encode(), SigningKey.generate())))
    with pytest.raises(InputError, match="att.json: malformed data manifest"):
        manifest.read_attestation(att)


def test_signed_non_json_payload_names_the_attestation(tmp_path: Path) -> None:
    from cpmap.core import dsse

    att = tmp_path / "att.json"
    att.write_text(manifest.dump(dsse.sign(b"hello", SigningKey.generate())))
    with pytest.raises(InputError, match="att.json: envelope payload is not JSON"):
        manifest.read_attestation(att)


def test_supplier_attestation(ws: Any, tmp_path: Path) -> None:
    d = _data(tmp_path)
    supplier = SigningKey.generate("acme")
    supplier.save(tmp_path / "acme.pem", tmp_path / "acme.pub")
    att = tmp_path / "att.json"
    att.write_text(manifest.dump(manifest.sign(d, supplier)))
    with pytest.raises(TrustError, match="no trusted key"):
        register_dataset(ws, "sup", d, supplier="acme", attestation=att)
    trust.add_key(ws, "acme", tmp_path / "acme.pub")
    assert register_dataset(ws, "sup", d, supplier="acme", attestation=att).supplier == "acme"
    (d / "a.txt").write_text("poisoned\n")
    with pytest.raises(TrustError, match="does not match the supplier attestation"):
        register_dataset(ws, "sup", d, supplier="acme", attestation=att)
    rogue = SigningKey.generate("rogue")
    att.write_text(manifest.dump(manifest.sign(d, rogue)))
    with pytest.raises(TrustError, match="not signed by supplier"):
        register_dataset(ws, "sup", d, supplier="acme", attestation=att)


def test_open_dataset_checks_integrity(ws: Any, tmp_path: Path) -> None:
    d = _data(tmp_path)
    register_dataset(ws, "ds", d)
    assert open_dataset("ds", ws, principal="alice").ref == "ds@1"
    (d / "b.txt").write_text("changed\n")
    with pytest.raises(VerificationFailed):
        open_dataset("ds", ws, principal="alice")
    accesses = Ledger(ws).entries(kind="dataset-access")
    assert [e.predicate["verdict"] for e in accesses] == ["pass", "fail"]


def test_lineage_through_transforms(ws: Any, tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text("id,v\n1,a\n1,a\n2,b\n")
    register_dataset(ws, "raw", raw)
    with transform("dedupe", inputs=["raw"], ws=ws) as t:
        out = tmp_path / "clean.csv"
        out.write_text("id,v\n1,a\n2,b\n")
        t.output(out, name="clean")
    with transform("sample", inputs=["clean", raw], ws=ws) as t:
        out2 = tmp_path / "sample.csv"
        out2.write_text("id,v\n2,b\n")
        t.output(out2, name="sample")
    tree = lineage_of(ws, "sample")
    assert tree.transform == "sample"
    refs = sorted(p.dataset.ref for p in tree.parents if p.dataset)
    assert refs == ["clean@1", "raw@1"]
    clean = next(p for p in tree.parents if p.dataset and p.dataset.name == "clean")
    assert clean.transform == "dedupe" and clean.parents[0].dataset.ref == "raw@1"
    kinds = [e.summary()["kind"] for e in Ledger(ws).entries()]
    assert kinds.count("data-transform") == 2


def test_transform_records_nothing_on_error(ws: Any, tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text("id\n1\n")
    register_dataset(ws, "raw", raw)
    with pytest.raises(RuntimeError), transform("boom", inputs=["raw"], ws=ws):
        raise RuntimeError("failed step")
    assert not Ledger(ws).entries(kind="data-transform")


def test_bad_names_and_refs(ws: Any, tmp_path: Path) -> None:
    with pytest.raises(InputError):
        register_dataset(ws, "../etc", _data(tmp_path))
    with pytest.raises(InputError, match="not registered"):
        get_dataset(ws, "nope")
    with pytest.raises(InputError, match="version must be a number"):
        get_dataset(ws, "nope@x")


def test_same_content_under_two_names_with_lineage(ws: Any, tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text("id\n1\n")
    register_dataset(ws, "raw", raw)
    out = tmp_path / "out.csv"
    out.write_text("id\n1\n2\n")
    for name in ("copy-a", "copy-b"):
        with transform("copy", inputs=["raw"], ws=ws) as t:
            t.output(out, name=name)
    assert lineage_of(ws, "copy-b").parents[0].dataset.ref == "raw@1"
