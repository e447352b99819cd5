"""``cpmap sbom``: CycloneDX 1.6 JSON, schema-valid, packages, datasets and models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import Workspace
from cpmap.provenance.datasets import register_dataset
from cpmap.supplychain import sbom
from cpmap.supplychain.bomsources import BomDataset, BomModel

from .clirun import Cli, make_cli

DIGEST = "ab" * 32


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)  # no workspace found upwards unless a test passes -w
    return make_cli(capsys)


def test_package_component_purl_license_hashes() -> None:
    dist = {"name": "Foo_Bar", "version": "1.0.post1", "license_expression": "MIT OR Apache-2.0",
            "classifiers": [], "license": [], "summary": "demo",
            "direct_url": json.dumps({"url": "https://x/foo.whl", "archive_info": {
                "hashes": {"sha256": DIGEST}}})}
    doc = json.loads(sbom.render(sbom.build("p", [dist], [], [])))
    [comp] = doc["components"]
    assert comp["purl"] == "pkg:pypi/foo-bar@1.0.post1"
    assert comp["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    assert comp["hashes"] == [{"alg": "SHA-256", "content": DIGEST}]


def test_ml_bom_models_depend_on_their_data() -> None:
    data = BomDataset("customers-redacted", 2, DIGEST, "transform:redact", "CC-BY-4.0",
                      "Acme", parents=("cd" * 32,))
    model = BomModel("credit", "3", "ef" * 32, "registry", datasets=(DIGEST,),
                     properties={"cpmap:card.intended_use": "credit scoring research"})
    doc = json.loads(sbom.render(sbom.build("proj", [], [data], [model])))
    assert doc["specVersion"] == "1.6" and doc["bomFormat"] == "CycloneDX"
    by_type = {c["type"]: c for c in doc["components"]}
    assert by_type["data"]["hashes"][0]["content"] == DIGEST
    assert by_type["data"]["supplier"]["name"] == "Acme"
    ml = by_type["machine-learning-model"]
    assert {"name": "cpmap:card.intended_use", "value": "credit scoring research"} in ml[
        "properties"]
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert deps[ml["bom-ref"]] == [by_type["data"]["bom-ref"]]


def test_invalid_bom_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from cyclonedx.output.json import JsonV1Dot6

    monkeypatch.setattr(JsonV1Dot6, "output_as_string",
                        lambda self, indent=None: '{"bomFormat": "CycloneDX", "specVersion": 1}')
    with pytest.raises(sbom.BomInvalid):
        sbom.render(sbom.build("p", [], [], []))


def test_cli_workspace_datasets_and_models(cli: Cli, ws: Workspace, tmp_path: Path) -> None:
    from cpmap.registry.versions import register

    raw = tmp_path / "customers.csv"
    raw.write_text("age,zip\n36,12345\n")
    dv = register_dataset(ws, "customers", raw, license="CC0-1.0")
    (tmp_path / "model.bin").write_bytes(b"\x00" * 64)
    register(ws, "credit", tmp_path / "model.bin", datasets=[dv.ref],
             card={"intended_use": "demo"})
    out = tmp_path / "bom.cdx.json"
    code, _, err = cli("sbom", "--env", sys.executable, "-w", str(ws.root), "-o", str(out))
    assert code == 0 and "BOM valid" in err
    doc = json.loads(out.read_text())
    types = {c["type"] for c in doc["components"]}
    assert {"library", "data", "machine-learning-model"} <= types
    assert any(c.get("purl", "").startswith("pkg:pypi/packaging@") for c in doc["components"])
    [entry] = Ledger(ws).entries(control="CP3")
    assert entry.predicate["metrics"]["models"] == 1
    assert (ws.objects_dir / "sha256" / entry.statement["subject"][0]["digest"]["sha256"]
            ).read_text() == out.read_text()
    code, stdout, _ = cli("sbom", "--no-packages", "--model", "credit", "-w", str(ws.root))
    doc = json.loads(stdout)
    assert sorted(c["type"] for c in doc["components"]) == ["data", "machine-learning-model"]


def test_cli_bad_input(cli: Cli, ws: Workspace, tmp_path: Path) -> None:
    code, _, err = cli("sbom", "--no-packages", "--model", "nope", "-w", str(ws.root))
    assert code == 2 and "nope" in err
    code, _, err = cli("sbom", "--no-packages", "--dataset", "nope", "-w", str(ws.root))
    assert code == 2 and "nope" in err
    code, _, err = cli("sbom", "--env", str(tmp_path / "no-python"), "-w", str(ws.root))
    assert code == 2 and "no-python" in err


def test_scan_deps_reads_the_bom(cli: Cli, ws: Workspace, tmp_path: Path) -> None:
    import hashlib

    from cpmap.supplychain.osvdb import SAMPLE_DB

    dists = [{"name": "requests", "version": "2.28.1"}, {"name": "Jinja2", "version": "3.1.4"}]
    bom = tmp_path / "bom.cdx.json"
    bom.write_text(sbom.render(sbom.build("p", dists, [], [])))
    code, out, _ = cli("scan", "deps", "--sbom", str(bom), "--osv-db", str(SAMPLE_DB),
                       "-f", "json", "-w", str(ws.root))
    doc = json.loads(out)
    assert code == 1
    assert [(d["name"], len(d["vulns"])) for d in doc["dependencies"]] == [("jinja2", 0),
                                                                          ("requests", 1)]
    [entry] = Ledger(ws).entries(control="CP3")
    subject = entry.statement["subject"][0]["digest"]["sha256"]
    assert subject == hashlib.sha256(bom.read_bytes()).hexdigest()  # what the registry stores
    (tmp_path / "notbom.json").write_text('{"a": 1}')
    code, _, err = cli("scan", "deps", "--sbom", str(tmp_path / "notbom.json"), "--osv-db",
                       str(SAMPLE_DB))
    assert code == 2 and "not a CycloneDX" in err
