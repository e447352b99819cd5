"""``cpmap redteam`` end to end: JSON shape, evidence, exit codes, tracking, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.formats.sarif_check import problems

from cpmap.core.ledger import Ledger
from cpmap.core.workspace import init, open_workspace

SMALL_PLAN = """seed = 3
[fuzzing]
examples = 5
probes = ["nan", "out_of_range", "empty"]
[evasion]
samples = 10
steps = 5
square_iters = 20
hsj_iterations = 1
[extraction]
budgets = [20, 60]
[membership]
reference_models = 2
[inversion]
steps = 5
"""


def cpmap(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cpmap", *args], capture_output=True,
                          text=True, cwd=cwd, env=dict(os.environ), timeout=600)


def _save_model(root: Path, name: str, hidden: int, epochs: int) -> str:
    import torch

    from cpmap.models.adapters import TorchModel
    from cpmap.models.archs import ArchSpec, build
    from cpmap.models.datasets import load_dataset
    from cpmap.models.store import save_model
    from cpmap.redteam.shadow import MLPConfig, fit_full_batch

    ws = open_workspace(root)
    ds = load_dataset("builtin:digits", ws)
    train, _test = ds.split(0.5, 0)
    spec = ArchSpec("mlp", 64, 10, (hidden,))
    torch.manual_seed(0)
    net = fit_full_batch(build(spec), train.x, train.y, 0, MLPConfig(hidden, epochs))
    record = {"datasets": [{"digest": ds.digest, "split": {"test_size": 0.5, "seed": 0}}],
              "config": {"arch": "mlp", "hidden": [hidden]}}
    return save_model(ws, name, TorchModel(net, spec, meta=ds.meta()), record).digest


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rt") / "proj"
    init(root)
    _save_model(root, "digits", 32, 60)
    (root / "plan.toml").write_text(SMALL_PLAN)
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(root / "tiny.npz", x=rng.random((10, 64)).astype(np.float32),
             y=np.arange(10, dtype=np.int64))
    return root


def test_run_json_evidence_and_findings(project: Path) -> None:
    r = cpmap("redteam", "run", "--model", "digits", "--data", "builtin:digits", "--plan",
              "plan.toml", "-f", "json", cwd=project)
    assert r.returncode == 1, r.stderr  # open high findings (evasion, extraction)
    assert "Traceback" not in r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"findings", "metrics"}
    assert set(out["metrics"]) == {"fuzzing", "evasion", "extraction", "membership",
                                   "inversion"}
    assert {"auc", "tpr_at_0.1pct_fpr", "tpr_at_1pct_fpr"} <= set(out["metrics"]["membership"])
    f = out["findings"][0]
    props = f["properties"]
    assert {"id", "title", "model_digest", "reproduction", "metrics", "atlas", "owasp",
            "status"} <= set(props)
    assert f["remediation"] and any(t.startswith("AML.T") for t in f["tags"])
    rules = {x["rule_id"] for x in out["findings"]}
    # the model layer refuses NaN (InputError) but answers out-of-range values
    assert "CP5-FUZZ-UNVALIDATED" in rules and "CP5-EVASION-WHITEBOX" in rules
    assert "CP5-FUZZ-NONFINITE" not in rules
    entry = list(Ledger(open_workspace(project)).entries(control="CP5"))[-1]
    pred = entry.predicate
    assert pred["details"]["plan"]["seed"] == 3 and pred["details"]["seeds"]["membership"]
    assert pred["details"]["plots"] and pred["verdict"] == "fail"
    assert entry.statement["subject"][0]["digest"]["sha256"] == props["model_digest"]


def test_findings_accept_and_sarif(project: Path) -> None:
    r = cpmap("redteam", "findings", "--open", "-f", "json", cwd=project)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["findings"]
    assert rows and all(x["status"] == "open" for x in rows)
    fid = rows[0]["id"]
    r = cpmap("redteam", "accept", fid, "--reason", "test model, never deployed", cwd=project)
    assert r.returncode == 0, r.stderr
    r = cpmap("redteam", "findings", "-f", "json", cwd=project)
    status = {x["id"]: x["status"] for x in json.loads(r.stdout)["findings"]}
    assert status[fid] == "accepted"
    r = cpmap("redteam", "findings", "-f", "sarif", cwd=project)
    log = json.loads(r.stdout)
    assert log["version"] == "2.1.0" and problems(log) == []  # GitHub-ready: no model: URIs


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "nope", "--data", "builtin:digits"], "model 'nope'"),
    (["--model", "digits", "--data", "builtin:digits", "--plan", "missing.toml"],
     "cannot read plan"),
    (["--model", "digits", "--data", "builtin:digits", "--fail-on", "worst"], "--fail-on"),
    (["--model", "digits", "--data", "tiny.npz"], "only 10 rows the model did not train on"),
])
def test_bad_input_exits_2_with_one_line(project: Path, args: list[str], message: str) -> None:
    r = cpmap("redteam", "run", *args, cwd=project)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("output", ["a dir", "plan.toml/out.json"])
def test_bad_output_exits_2_before_any_evidence(project: Path, output: str) -> None:
    (project / "a dir").mkdir(exist_ok=True)
    before = len(list(Ledger(open_workspace(project)).entries()))
    r = cpmap("redteam", "run", "--model", "digits", "--data", "builtin:digits", "--plan",
              "plan.toml", "-f", "json", "-o", output, cwd=project)
    assert r.returncode == 2 and output in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert len(list(Ledger(open_workspace(project)).entries())) == before
