"""``cpmap monitor`` (CP9) in-process: exit codes, JSON, HTML, evidence, the log window."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.drift.conftest import Registered, blobs, run_cli, write_npz

from cpmap.core.ledger import Ledger


@pytest.fixture
def tables(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    n = 2000
    ref = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                        "c": rng.choice(list("xy"), n)})
    same = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                         "c": rng.choice(list("xy"), n)})
    shifted = same.assign(a=same["a"] + 0.6)
    paths = {"ref": tmp_path / "ref.csv", "same": tmp_path / "same.jsonl",
             "shifted": tmp_path / "shifted.parquet"}
    ref.to_csv(paths["ref"], index=False)
    same.to_json(paths["same"], orient="records", lines=True)
    shifted.to_parquet(paths["shifted"])
    return paths


def test_exit_codes_and_json(capsys: pytest.CaptureFixture[str], tables: dict[str, Path],
                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no workspace here: report only
    code, out, _ = run_cli(capsys, "monitor", "drift", str(tables["ref"]), str(tables["same"]),
                           "-f", "json")
    doc = json.loads(out)
    assert code == 0 and doc["drift"] is False and doc["entry"] is None
    assert [f["name"] for f in doc["features"]] == ["a", "b", "c"]
    assert {"name", "test", "statistic", "p_value", "effect", "drift"} <= set(doc["features"][0])
    assert doc["multivariate"]["test"] == "domain-classifier"
    code, out, _ = run_cli(capsys, "monitor", "drift", str(tables["ref"]),
                           str(tables["shifted"]), "-f", "json")
    doc = json.loads(out)
    assert code == 1 and doc["drift"] is True
    assert [f["name"] for f in doc["features"] if f["drift"]] == ["a"]


@pytest.mark.parametrize("args, says", [
    (["nope.csv", "x.csv"], "nope.csv: no such file"),
    (["REF", "bad.txt"], "bad.txt: unsupported table format"),
    (["REF", "REF", "--alpha", "2"], "alpha"),
    (["REF"], "give REFERENCE and CURRENT"),
])
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str],
                                          tables: dict[str, Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, args: list[str],
                                          says: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.txt").write_text("a,b\n1,2\n")
    argv = [str(tables["ref"]) if a == "REF" else a for a in args]
    code, _, err = run_cli(capsys, "monitor", "drift", *argv)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1


def test_html_page_and_evidence_about_the_model(capsys: pytest.CaptureFixture[str],
                                                reg: Registered, tables: dict[str, Path]
                                                ) -> None:
    out_dir = reg.tmp / "out"
    code, _, err = run_cli(capsys, "monitor", "drift", str(tables["ref"]),
                           str(tables["shifted"]), "--model", "clf", "-f", "html", "-o",
                           str(out_dir), "-w", str(reg.ws.root))
    assert code == 1 and "recorded CP9 drift evidence" in err
    page = (out_dir / "drift.html").read_text()
    assert page.count("<img") == 1 and "drift: a" in page
    entry = Ledger(reg.ws).entries(kind="drift")[-1]
    pred = entry.predicate
    assert pred["verdict"] == "fail" and pred["metrics"]["drifted"] == 1
    assert len(pred["details"]["plots"]) == 1
    assert {s["name"] for s in entry.statement["subject"]} >= {"clf@1"}
    tags = {t for f in pred["findings"] for t in f["tags"]}
    assert "AML.T0031" in tags
    from cpmap.formats.report import build_map

    cell = next(c for c in build_map(reg.ws).cells if c.control.id == "CP9")
    view = next(k for k in cell.kinds if k.kind == "drift")
    assert cell.status == "fail" and view.plots and view.plots[0]["uri"].startswith(
        "data:image/png;base64,")
    assert view.metrics["drifted"] == 1 and any("feature test" in h for h in view.highlights)


def test_golden_register_and_run(capsys: pytest.CaptureFixture[str], reg: Registered) -> None:
    x, y = blobs(300, 9)
    data = write_npz(reg.tmp / "golden.npz", x, y)
    ws = ["-w", str(reg.ws.root)]
    code, out, _ = run_cli(capsys, "monitor", "golden", "register", "clf-golden", "--data",
                           str(data), "-f", "json", *ws)
    assert code == 0 and json.loads(out)["name"] == "clf-golden"
    code, out, _ = run_cli(capsys, "monitor", "golden", "run", "clf@1", "-f", "json", *ws)
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] == "pass" and doc["rows"] == 300
    code, out, _ = run_cli(capsys, "monitor", "golden", "run", "clf", "--min-accuracy",
                           "0.99", "-f", "json", *ws)
    assert code == 1 and json.loads(out)["verdict"] == "fail"
    code, _, err = run_cli(capsys, "monitor", "golden", "run", "nosuch", *ws)
    assert code == 2 and len(err.strip().splitlines()) == 1


def _log(ws: Any, mv: Any, accuracy_after: float) -> pd.DataFrame:
    """Logged predictions of clf (first half right 95%, then ``accuracy_after``) and their
    delayed labels, through the gateway's own prediction log."""
    from cpmap.gateway.predlog import PredictionLog

    rng = np.random.default_rng(4)
    log = PredictionLog(ws, mv.ref, mv.digest, batch=1000)
    rows = []
    for i in range(800):
        label = int(rng.integers(0, 3))
        acc = 0.95 if i < 400 else accuracy_after
        pred = label if rng.random() < acc else (label + 1) % 3
        log.add({"id": f"r{i}", "status": 200, "rows": 1, "ts": 1_000_000.0 + i * 10,
                 "predictions": [pred], "confidence": [0.9]})
        rows.append({"id": f"r{i}", "label": str(label)})
    while log.flush() is not None:
        pass
    return pd.DataFrame(rows)


def test_performance_from_the_log_with_delayed_labels(capsys: pytest.CaptureFixture[str],
                                                      reg: Registered) -> None:
    from cpmap.drift import golden

    x, y = blobs(300, 9)
    golden.register(reg.ws, "clf-golden", write_npz(reg.tmp / "g.npz", x, y))
    base = golden.run(reg.ws, "clf").accuracy  # the version's validation figure
    labels = reg.tmp / "labels.csv"
    _log(reg.ws, reg.mv, base - 0.25).to_csv(labels, index=False)
    ws = ["-w", str(reg.ws.root)]
    code, out, _ = run_cli(capsys, "monitor", "performance", "clf", "--labels", str(labels),
                           "--window", "4000s", "-f", "json", *ws)
    doc = json.loads(out)
    assert code == 1 and doc["estimated"] is False and doc["dropped_windows"] == 1
    assert [w["dropped"] for w in doc["windows"]] == [False, True]
    code, out, _ = run_cli(capsys, "monitor", "performance", "clf", "-f", "json", *ws)
    doc = json.loads(out)
    assert code == 0 and doc["estimated"] is True
    verdicts = [e.predicate["verdict"] for e in Ledger(reg.ws).entries(kind="performance")]
    assert verdicts == ["fail", "pass"]  # the estimate (a constant 0.9) does not fall


def test_drift_from_the_log_against_the_training_labels(capsys: pytest.CaptureFixture[str],
                                                        reg: Registered) -> None:
    _log(reg.ws, reg.mv, 0.95)
    code, out, _ = run_cli(capsys, "monitor", "drift", "--from-log", "clf", "-f", "json",
                           "-w", str(reg.ws.root))
    doc = json.loads(out)
    names = [f["name"] for f in doc["features"]]
    assert code in (0, 1) and names == ["prediction"]
    assert doc["reference"]["name"] == "clf-train@1" and "x0" in doc["skipped_columns"]
    code, _, err = run_cli(capsys, "monitor", "drift", "--from-log", "clf", "--since", "1h",
                           "-w", str(reg.ws.root))
    assert code == 2 and "no logged predictions" in err


def test_poisoning_over_ten_rounds(capsys: pytest.CaptureFixture[str], reg: Registered) -> None:
    rounds = []
    for t in range(1, 11):
        x, y = blobs(400, 50 + t, shares=(1 / 3 + 0.012 * t, 1 / 3, 1 / 3 - 0.012 * t),
                     shift=0.02 * t)
        rounds += ["--round", str(write_npz(reg.tmp / f"round{t}.npz", x, y))]
    code, out, _ = run_cli(capsys, "monitor", "poisoning", "clf", *rounds, "-f", "json",
                           "-w", str(reg.ws.root))
    doc = json.loads(out)
    assert code == 1 and doc["poisoning"] is True and doc["step_to_step_flags"] == 0
    assert doc["flagged_rounds"] and doc["anchor"] == "clf-train@1"
    entry = Ledger(reg.ws).entries(kind="poisoning")[-1]
    assert "AML.T0020" in {t for f in entry.predicate["findings"] for t in f["tags"]}
