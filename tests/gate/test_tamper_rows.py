"""The store rows a decision reads are caches of signed entries (:mod:`cpmap.core.backed`).

A store writer without the signing key edits, inserts or deletes rows of ``gateway_keys``,
``models``, ``datasets``, ``lineage``, ``model_versions`` and ``model_events``: the deciding
reader refuses, ``cpmap ledger verify`` and ``cpmap registry verify`` name every divergence and
exit 1, while the honest workspace verifies. Each attack on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, update

from cpmap.core.backed import Divergences
from cpmap.core.derived_tables import check_derived
from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.verified import IntegrityError
from cpmap.gateway import keys
from cpmap.gateway.tables import gateway_keys
from cpmap.models.tables import models
from cpmap.provenance.predicates import DataSignature
from cpmap.provenance.tables import datasets, lineage
from cpmap.registry.manifest import ModelVersion
from cpmap.registry.stages import promote
from cpmap.registry.tables import model_events, model_versions

from .conftest import Kit

pytestmark = pytest.mark.postgres


def run(ws: Any, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``cpmap ARGS --workspace ws`` in-process: (exit code, stdout, stderr)."""
    from cpmap.cli import main

    capsys.readouterr()
    try:
        main([*args, "--workspace", str(ws.root)])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@dataclass
class Honest:
    mv: ModelVersion
    base: str  # dataset digests
    derived: str
    live: str  # API keys
    revoked: str
    stored: list[Any]


def _stored_model(ws: Any, seed: int) -> Any:
    import torch

    from cpmap.models import ArchSpec, TorchModel, build, save_model

    torch.manual_seed(seed)
    spec = ArchSpec("mlp", 4, 3, (4,))
    return save_model(ws, "tiny", TorchModel(build(spec), spec), {"seed": seed})


def _honest(ws: Any, tmp_path: Path) -> Honest:
    """Every cached table with rows: datasets and a lineage edge, a promoted registry
    version, stored models, a live and a revoked API key."""
    from cpmap.provenance.datasets import register_dataset

    kit = Kit(ws, tmp_path)
    base = register_dataset(ws, "base", _file(tmp_path / "base.csv", b"a\n1\n2\n"),
                            source="builtin:test")
    derived = register_dataset(ws, "clean", _file(tmp_path / "clean.csv", b"a\n1\n"),
                               source="builtin:test", parents=[base.digest],
                               transform="drop-row")
    record(Evidence.of(DataSignature(verdict=Verdict.PASS), [Subject("clean.csv", derived.digest)]),
           ws)
    mv = kit.model(datasets=(derived.ref,))
    kit.everything(mv)
    kit.cp7(mv)
    promote(ws, mv.ref)
    live, _ = keys.create(ws, "app", ["infer:clf"])
    revoked, _ = keys.create(ws, "old-app", ["infer:*"])
    keys.revoke(ws, "old-app")
    stored = [_stored_model(ws, 0), _stored_model(ws, 1)]
    return Honest(mv, base.digest, derived.digest, live, revoked, stored)


def _file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_honest_workspace_verifies_every_cached_table(any_ws: Any, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    h = _honest(any_ws, tmp_path)
    counts = check_derived(any_ws)
    assert counts["gateway_keys"] == 2 and counts["models"] == 2
    assert counts["datasets"] == 2 and counts["lineage"] == 1
    assert counts["model_versions"] == 1 and counts["model_events"] == 1
    code, _out, err = run(any_ws, capsys, "ledger", "verify")
    assert code == 0 and "gateway_keys 2" in err and "lineage 1" in err
    code, _out, err = run(any_ws, capsys, "registry", "verify", "clf")
    assert code == 0 and "OK" in err
    ring = keys.KeyRing(keys.hashing_key(any_ws))
    ring.load(any_ws)
    assert ring.authenticate(h.live) is not None and ring.authenticate(h.revoked) is None


# -- gateway API keys ----------------------------------------------------------------------------

def test_undone_revocation_is_refused_and_no_key_works(any_ws: Any, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    h = _honest(any_ws, tmp_path)
    ring = keys.KeyRing(keys.hashing_key(any_ws))
    ring.load(any_ws)
    with any_ws.store.write() as conn:  # the attack: the revoked key works again
        conn.execute(update(gateway_keys).values(revoked_at=None))
    with pytest.raises(IntegrityError, match=r"store table gateway_keys row key_id '[0-9a-f]+':"
                                             r" revoked_at is None, ledger entry #\d+ signed"):
        keys.list_keys(any_ws)
    with pytest.raises(IntegrityError):
        ring.load(any_ws)  # the gateway's periodic refresh
    assert ring.authenticate(h.revoked) is None
    assert ring.authenticate(h.live) is None  # fail closed until the store is repaired
    code, _out, err = run(any_ws, capsys, "gateway", "key", "list")
    assert code == 1 and "store table gateway_keys" in err
    code, _out, err = run(any_ws, capsys, "ledger", "verify")
    assert code == 1 and "store table gateway_keys" in err


def test_widened_scope_and_inserted_key_are_refused(any_ws: Any, tmp_path: Path) -> None:
    h = _honest(any_ws, tmp_path)
    live_id = h.live.split("_")[1]
    with any_ws.store.write() as conn:  # the attack: the app key may now call every model
        conn.execute(update(gateway_keys).where(gateway_keys.c.key_id == live_id)
                     .values(scopes='["infer:*", "metrics"]'))
    with pytest.raises(IntegrityError, match=f"key_id '{live_id}': scopes is"):
        keys.list_keys(any_ws)
    with any_ws.store.write() as conn:  # repaired, then a forged row naming a real entry
        conn.execute(update(gateway_keys).where(gateway_keys.c.key_id == live_id)
                     .values(scopes='["infer:clf"]'))
        row = dict(conn.execute(gateway_keys.select().where(
            gateway_keys.c.key_id == live_id)).one()._mapping)
        conn.execute(insert(gateway_keys).values({**row, "key_id": "f" * 16, "client": "evil"}))
    with pytest.raises(IntegrityError, match=f"key_id '{'f' * 16}': no signed ledger entry"):
        keys.list_keys(any_ws)
    with pytest.raises(IntegrityError, match="store table gateway_keys"):
        check_derived(any_ws)


# -- stored models -------------------------------------------------------------------------------

def test_repointed_stored_model_is_refused(any_ws: Any, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from cpmap.models import get_model

    h = _honest(any_ws, tmp_path)
    first, second = h.stored
    assert first.digest != second.digest
    with any_ws.store.write() as conn:  # the attack: tiny@1 now loads tiny@2's weights
        conn.execute(update(models).where(models.c.version == 1).values(digest=second.digest))
    with pytest.raises(IntegrityError, match="store table models row name 'tiny' version 1: "
                                             "digest is"):
        get_model(any_ws, "tiny@1")
    code, _out, err = run(any_ws, capsys, "models", "list")
    assert code == 1 and "store table models" in err


# -- datasets, lineage, registry rows: every divergence reported ---------------------------------

def test_every_divergence_is_reported_and_verify_fails(any_ws: Any, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    h = _honest(any_ws, tmp_path)
    with any_ws.store.write() as conn:  # four edits at once
        conn.execute(update(datasets).where(datasets.c.name == "base")
                     .values(supplier="trusted-vendor"))
        conn.execute(insert(lineage).values(child=h.base, parent="0" * 64, transform="x",
                                            entry=0))
        conn.execute(delete(model_events))
        conn.execute(update(model_versions).values(digest=h.derived))
    with pytest.raises(Divergences) as err:
        check_derived(any_ws)
    found = " | ".join(p.message for p in err.value.problems)
    assert "store table datasets row name 'base' version 1: supplier is 'trusted-vendor'" in found
    assert f"store table lineage row child '{h.base}' parent '{'0' * 64}': no signed" in found
    assert "store table model_events row entry" in found and "(deleted)" in found
    assert "store table model_versions row name 'clf' version 1: digest is" in found
    code, _out, err_text = run(any_ws, capsys, "ledger", "verify")
    assert code == 1
    for table in ("datasets", "lineage", "model_events", "model_versions"):
        assert f"store table {table}" in err_text
    code, _out, err_text = run(any_ws, capsys, "registry", "verify", "clf@1")
    assert code == 1 and "store row does not match its signed manifest" in err_text


def test_registry_verify_names_a_forged_promotion_event(any_ws: Any, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    _honest(any_ws, tmp_path)
    with any_ws.store.write() as conn:  # the attack: an approval nobody signed
        conn.execute(insert(model_events).values(
            name="clf", stage="production", action="promote", version=7, from_version=1,
            created_at="now", entry=0))
    code, _out, err = run(any_ws, capsys, "registry", "verify", "clf")
    assert code == 1 and "store table model_events row entry 0: no signed ledger entry" in err


def test_inserted_lineage_edge_does_not_lend_a_signature(any_ws: Any, tmp_path: Path) -> None:
    from cpmap.gate.evaluate import evaluate
    from cpmap.provenance.datasets import get_dataset, register_dataset
    from cpmap.registry.stages import GateFailed

    kit = Kit(any_ws, tmp_path)
    signed = get_dataset(any_ws, kit.dataset("signed"))  # carries a data signature
    unsigned = register_dataset(any_ws, "unsigned", _file(tmp_path / "u.csv", b"a\n9\n"),
                                source="builtin:test")
    mv = kit.model(datasets=(unsigned.ref,))
    kit.everything(mv)
    kit.cp7(mv)
    with pytest.raises(GateFailed, match="CP1 fail"):
        promote(any_ws, mv.ref)
    with any_ws.store.write() as conn:  # the attack: "unsigned" now descends from "signed"
        conn.execute(insert(lineage).values(child=unsigned.digest, parent=signed.digest,
                                            transform="copy", entry=unsigned.entry))
    with pytest.raises(IntegrityError, match=f"store table lineage row child '{unsigned.digest}'"):
        evaluate(any_ws, mv)
    with pytest.raises(IntegrityError):
        promote(any_ws, mv.ref)


# -- red-team finding statuses -------------------------------------------------------------------

def _campaign(ws: Any) -> Any:
    from cpmap.redteam import assess
    from cpmap.redteam.campaign import CampaignResult
    from cpmap.redteam.campaign import record as record_campaign
    from cpmap.redteam.plan import Plan

    digest = "1" * 64
    found = assess.make("m", digest, "CP5-FUZZ-CRASH", "crash", {"p": 1}, 0, {"x": 1.0})
    return record_campaign(ws, CampaignResult(
        "m", digest, Plan(), [found], {"fuzzing": {"failing_probes": 1, "probes": 5,
                                                   "calls": 10}}))


def test_accepted_status_set_in_the_store_is_not_signed(any_ws: Any,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    from cpmap.core.ledger import Ledger
    from cpmap.redteam.tables import redteam_findings

    first = _campaign(any_ws)
    [status] = first.predicate["details"]["status"].values()
    assert status == "open" and check_derived(any_ws)["redteam_findings (status)"] == 1
    with any_ws.store.write() as conn:  # the attack: the open crash is "accepted" for the gate
        conn.execute(update(redteam_findings).values(status="accepted"))
    with pytest.raises(IntegrityError, match="store table redteam_findings row id 'RT-[0-9a-f]+'"
                                             ": status is 'accepted', the signed log says "
                                             "'open'"):
        _campaign(any_ws)  # the next campaign would have signed "accepted"
    assert Ledger(any_ws).size() == 1
    code, _out, err = run(any_ws, capsys, "ledger", "verify")
    assert code == 1 and "store table redteam_findings" in err


def test_repointed_dataset_row_is_refused_when_opened(any_ws: Any, tmp_path: Path) -> None:
    from cpmap.provenance.datasets import get_dataset, open_dataset, register_dataset

    good = register_dataset(any_ws, "train", _file(tmp_path / "t.csv", b"a\n1\n"),
                            source="builtin:test")
    other = register_dataset(any_ws, "other", _file(tmp_path / "o.csv", b"a\n666\n"),
                             source="builtin:test")
    assert open_dataset("train", any_ws).digest == good.digest
    with any_ws.store.write() as conn:  # the attack: "train" now serves the other files
        conn.execute(update(datasets).where(datasets.c.name == "train")
                     .values(digest=other.digest, path=str(tmp_path / "o.csv")))
    with pytest.raises(IntegrityError, match="store table datasets row name 'train' version 1:"
                                             " digest is"):
        open_dataset("train", any_ws)
    with pytest.raises(IntegrityError):
        get_dataset(any_ws, f"sha256:{other.digest}")


def test_dataset_path_and_listings_are_the_signed_ones(any_ws: Any, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    from cpmap.provenance.datasets import list_datasets, open_dataset, register_dataset

    train = register_dataset(any_ws, "train", _file(tmp_path / "t.csv", b"a\n1\n"),
                             source="builtin:test")
    assert [d.name for d in list_datasets(any_ws)] == ["train"]
    with any_ws.store.write() as conn:  # the attack: only the path, to an identical copy
        conn.execute(update(datasets).values(path=str(_file(tmp_path / "copy.csv", b"a\n1\n"))))
    with pytest.raises(IntegrityError, match="datasets row name 'train' version 1: path is"):
        open_dataset("train", any_ws)
    code, _out, err = run(any_ws, capsys, "data", "list")
    assert code == 1 and "store table datasets row name 'train' version 1" in err
    assert train.entry == 0


def test_registry_listing_and_latest_are_the_signed_versions(any_ws: Any, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    from cpmap.registry.versions import get

    kit = Kit(any_ws, tmp_path)
    kit.model(content=b"one")
    second = kit.model(content=b"two")
    assert get(any_ws, "clf").version == second.version
    with any_ws.store.write() as conn:  # the attack: hide the latest version
        conn.execute(delete(model_versions).where(model_versions.c.version == second.version))
    with pytest.raises(IntegrityError, match=f"model_versions row name 'clf' version "
                                             f"{second.version}: missing"):
        get(any_ws, "clf")
    code, _out, err = run(any_ws, capsys, "registry", "list")
    assert code == 1 and "store table model_versions" in err


def test_edited_training_record_is_refused(any_ws: Any,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from cpmap.models.store import list_models

    stored = _stored_model(any_ws, 0)
    assert [m.version for m in list_models(any_ws)] == [stored.version]
    record_ = {**stored.record, "types_reviewed": True, "untrusted_types": ["os.system"]}
    with any_ws.store.write() as conn:  # the attack: let loading accept any type
        conn.execute(update(models).values(record=json.dumps(record_, sort_keys=True)))
    with pytest.raises(IntegrityError, match="models row name 'tiny' version 1: record_sha256"):
        list_models(any_ws)
    code, _out, err = run(any_ws, capsys, "ledger", "verify")
    assert code == 1 and "store table models row name 'tiny' version 1" in err
