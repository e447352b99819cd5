"""Training modes, seeding, configs, DP-SGD budgets, and `cpmap train` / `robustness evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cpmap.errors import Error, InputError
from cpmap.models import accuracy
from cpmap.models.datasets import Dataset
from cpmap.robustness.config import TrainConfig, load_toml, merge
from cpmap.robustness.training import train


@pytest.fixture(scope="module")
def small(digits: Any) -> tuple[Dataset, Dataset]:
    x, y = digits
    ds = Dataset("digits", "0" * 64, x, y, tuple(str(i) for i in range(10)),
                 image_shape=(1, 8, 8))
    return ds.subset(np.arange(600)), ds.subset(np.arange(1400, 1600))


@pytest.mark.parametrize("cfg", [
    TrainConfig(arch="logreg", epochs=3, lr=1e-2),
    TrainConfig(arch="cnn", hidden=(8, 8), epochs=2, lr=5e-3),
    TrainConfig(arch="mlp", epochs=3, lr=5e-3, adversarial="pgd", eps=0.1, steps=3),
    TrainConfig(arch="mlp", epochs=3, lr=5e-3, adversarial="trades", eps=0.1, steps=3),
    TrainConfig(arch="forest"),
], ids=["logreg", "cnn", "pgd", "trades", "forest"])
def test_every_mode_learns(cfg: TrainConfig, small: Any) -> None:
    torch.set_num_threads(1)
    tr, te = small
    seen: list[dict[str, Any]] = []
    out = train(tr, cfg, on_epoch=seen.append)
    assert accuracy(out.model, te.x, te.y) > 0.6
    assert len(seen) == (cfg.epochs if cfg.is_torch else 0)


def test_same_seed_same_weights(small: Any) -> None:
    tr, _ = small
    cfg = TrainConfig(arch="mlp", epochs=2, adversarial="pgd", steps=2, seed=5)
    a, b = train(tr, cfg).model, train(tr, cfg).model
    for (ka, va), (_kb, vb) in zip(a.module.state_dict().items(), b.module.state_dict().items(),
                                   strict=True):
        assert torch.equal(va, vb), ka


def test_defensive_distillation_learns_from_soft_labels(small: Any, mlp: Any) -> None:
    tr, te = small
    out = train(tr, TrainConfig(arch="mlp", epochs=4, lr=5e-3, distill_from="teacher",
                                temperature=10.0), teacher=mlp)
    assert accuracy(out.model, te.x, te.y) > 0.6


def test_configs_are_checked_and_merged(tmp_path: Path) -> None:
    p = tmp_path / "train.toml"
    p.write_text('[train]\ndata = "builtin:digits"\narch = "mlp"\nepochs = 3\nhidden = [32]\n')
    base = load_toml(p)
    cfg = merge(base, {"epochs": 5, "seed": None})
    assert (cfg.arch, cfg.epochs, cfg.hidden) == ("mlp", 5, (32,))
    p.write_text("[train]\nlearning = 1\n")
    with pytest.raises(InputError, match="unknown training setting"):
        load_toml(p)
    for bad in ({"arch": "resnet"}, {"adversarial": "fgsm"}, {"eps": -1.0},
                {"arch": "forest", "adversarial": "pgd"},
                {"dp_epsilon": 1.0, "adversarial": "pgd"}):
        with pytest.raises(InputError):
            merge({}, bad)


@pytest.mark.parametrize("line", ['epochs = "x"', "lr = true", 'hidden = ["a"]', "arch = 3",
                                  "eps = [0.1]"])
def test_config_values_of_the_wrong_type_are_input_errors(tmp_path: Path, line: str) -> None:
    p = tmp_path / "train.toml"
    p.write_text(f'[train]\ndata = "builtin:digits"\n{line}\n')
    with pytest.raises(InputError, match="wrong type"):
        merge(load_toml(p), {})


def test_dp_sgd_spends_the_dataset_budget(ws: Any) -> None:
    pytest.importorskip("opacus")
    from cpmap.privacy.budget import status
    from cpmap.robustness.service import train_model

    cfg = TrainConfig(arch="logreg", epochs=2, lr=0.1, dp_epsilon=4.0)
    t = train_model(ws, "builtin:digits", cfg, "dp")
    assert 0 < t.metrics["dp_epsilon"] <= 4.0 + 1e-6
    st = status(ws, "digits")
    assert st.spent_epsilon == pytest.approx(t.metrics["dp_epsilon"])
    assert t.version.record["privacy_spend_entry"] is not None
    with pytest.raises(Error, match="privacy budget"):  # the delta budget is used up
        train_model(ws, "builtin:digits", cfg, "dp")


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from cpmap.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_and_evaluate_commands(ws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from cpmap.core.ledger import Ledger
    from cpmap.models import get_model

    w = ("-w", str(ws.root))
    code, out, err = run_cli(capsys, "train", "--data", "builtin:digits", "--arch", "mlp",
                             "--epochs", "3", "--seed", "1", "--name", "d", *w, "-f", "json")
    assert code == 0, err
    value = json.loads(out)
    mv = get_model(ws, "d")
    assert value["digest"] == mv.digest and value["datasets"][0]["ref"] == "digits@1"
    training = Ledger(ws).entries(kind="model-training")[-1]
    assert {s["sha256"] for s in training.summary()["subjects"]} == {
        mv.digest, value["datasets"][0]["digest"]}
    code, out, err = run_cli(capsys, "robustness", "evaluate", "--model", "d", "--data",
                             "builtin:digits", "--eps", "0.1,0.05", "--attacks", "fgsm,pgd",
                             "--samples", "60", *w, "-f", "json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"clean_accuracy", "results", "worst_case"}
    assert len(result["results"]) == 4
    entry = Ledger(ws).entries(kind="robustness-evaluation")[-1]
    details = entry.predicate["details"]
    assert details["plots"][0]["sha256"] and details["results"] == result["results"]
    assert entry.predicate["metrics"]["robust_accuracy@0.1"] <= result["clean_accuracy"]
    worst = {w["eps"]: w["robust_accuracy"] for w in result["worst_case"]}
    assert entry.predicate["metrics"]["worst_case@0.1"] == round(worst[0.1], 5)
    assert "weaker than AutoAttack" not in err  # FGSM and PGD are no AutoAttack part
    code, _, err = run_cli(capsys, "robustness", "evaluate", "--model", "d", "--data",
                           "builtin:digits", "--eps", "0.1", "--attacks", "square",
                           "--square-iters", "5", "--samples", "20", *w)
    # Square at 5 queries where AutoAttack runs 5,000: said on stderr and in the evidence
    assert code in (0, 1) and "square iters 5 (AutoAttack: 5000)" in " ".join(err.split())
    highlights = Ledger(ws).entries(kind="robustness-evaluation")[-1].predicate["details"][
        "highlights"]
    assert any("weaker than AutoAttack" in h for h in highlights)
    code, _, err = run_cli(capsys, "robustness", "evaluate", "--model", "d", "--data",
                           "builtin:digits", "--eps", "abc", *w)
    assert code == 2 and "--eps" in err
    code, _, err = run_cli(capsys, "train", "--data", "missing.csv", "--name", "x", *w)
    assert code == 2 and "missing.csv" in err


def test_policy_floor_fails_the_evidence(ws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from cpmap.core.ledger import Ledger
    from cpmap.core.workspace import open_workspace

    toml = ws.dir / "cpmap.toml"
    toml.write_text(toml.read_text() + "\n[robustness]\nmin_robust_accuracy = 0.99\n")
    w = ("-w", str(ws.root))
    assert run_cli(capsys, "train", "--data", "builtin:digits", "--arch", "logreg",
                   "--epochs", "2", "--name", "weak", *w)[0] == 0
    code, _, err = run_cli(capsys, "robustness", "evaluate", "--model", "weak", "--data",
                           "builtin:digits", "--attacks", "fgsm", "--eps", "0.1",
                           "--samples", "50", *w)
    assert code == 1 and "CP4-LOW-ROBUSTNESS" in err
    entry = Ledger(open_workspace(ws.root)).entries(kind="robustness-evaluation")[-1]
    assert entry.predicate["verdict"] == "fail"


@pytest.mark.parametrize(("args", "match"), [
    (("--attacks", "square", "--square-iters", "0"), "--square-iters"),
    (("--attacks", ""), "--attacks"),
    (("--attacks", " , "), "--attacks"),
])
def test_evaluate_rejects_settings_that_would_fake_robustness(
        ws: Any, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], match: str) -> None:
    from cpmap.core.ledger import Ledger

    before = len(Ledger(ws).entries())
    code, _, err = run_cli(capsys, "robustness", "evaluate", "--model", "m", "--data",
                           "builtin:digits", "--eps", "0.1", *args, "-w", str(ws.root))
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1
    assert len(Ledger(ws).entries()) == before


@pytest.mark.parametrize("seed", [-1, 1 << 64])
def test_out_of_range_seeds_are_input_errors(
        ws: Any, capsys: pytest.CaptureFixture[str], seed: int) -> None:
    with pytest.raises(InputError, match="--seed"):
        merge({}, {"seed": seed})
    code, _, err = run_cli(capsys, "robustness", "evaluate", "--model", "m", "--data",
                           "builtin:digits", "--seed", str(seed), "-w", str(ws.root))
    assert code == 2 and "--seed" in err


def test_dp_epsilon_opacus_cannot_reach_is_an_input_error(small: Any) -> None:
    pytest.importorskip("opacus")
    tr, _ = small
    with pytest.raises(InputError, match="--dp-epsilon 1e-06"):
        train(tr, TrainConfig(arch="mlp", epochs=1, dp_epsilon=1e-6))


@pytest.mark.parametrize("line", ['threads = "x"', "threads = 100000", "threads = 0",
                                  'min_robust_accuracy = "x"', "min_robust_accuracy = nan",
                                  'min_robust_accuracy = 0.5\npolicy_eps = "x"'])
def test_bad_robustness_settings_are_input_errors(ws: Any, line: str) -> None:
    from cpmap.core.workspace import open_workspace
    from cpmap.robustness.evaluate import Evaluation
    from cpmap.robustness.service import policy_findings, set_threads

    toml = ws.dir / "cpmap.toml"
    toml.write_text(toml.read_text() + f"\n[robustness]\n{line}\n")
    w = open_workspace(ws.root)
    with pytest.raises(InputError, match=r"cpmap.toml: \[robustness\]"):
        set_threads(w)
        policy_findings(w, Evaluation(0.9, (), 10))
