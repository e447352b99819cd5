"""CP9 golden-set disagreements become review items (reason golden-disagreement), once each."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.drift.conftest import Registered, blobs, reg, write_npz  # noqa: F401 - fixture
from tests.retrain.conftest import run_cli

from cpmap.drift import golden
from cpmap.review import queue
from cpmap.review.golden import REASON, from_golden


def _relabelled(r: Registered) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y = blobs(300, 7)
    wrong = np.zeros(300, dtype=bool)
    wrong[::10] = True  # 30 golden labels the model will disagree with
    golden.register(r.ws, "clf-golden", write_npz(r.tmp / "g.npz", x, np.where(
        wrong, (y + 1) % 3, y)))
    return x, y, wrong


def test_rows_the_model_gets_wrong_are_queued_once(reg: Registered) -> None:  # noqa: F811
    x, _, wrong = _relabelled(reg)
    added = from_golden(reg.ws, "clf")
    from cpmap.drift import models as md

    model = md.load(reg.ws, reg.mv)
    ds = md.labelled(reg.ws, "clf-golden", model)
    disagree = np.argmax(md.predict(model, ds.x), axis=1) != ds.y
    assert added == int(disagree.sum()) and added >= int(wrong.sum()) - 3
    assert from_golden(reg.ws, "clf") == 0  # a rerun queues nothing twice
    item = queue.claim(reg.ws, "alice")
    assert item is not None and item.source == "golden" and item.flags[0] == REASON
    assert item.flags[1].startswith("golden label ") and "clf-golden@1 row" in item.flags[1]
    assert item.input_kind == "row" and sorted(item.input) == ["x0", "x1", "x2", "x3"]
    row = int(item.flags[1].rsplit(" ", 1)[-1].rstrip(")"))
    assert np.allclose([item.input[f"x{j}"] for j in range(4)], x[row])
    assert item.prediction != item.flags[1].split()[2]  # the model said something else
    assert 0 < (item.confidence or 0) <= 1
    queue.decide(reg.ws, "alice", item.id, "label", item.prediction)  # the golden label erred
    assert queue.get(reg.ws, item.id).status == "final"


def test_a_failed_golden_run_queues_its_disagreements(reg: Registered,  # noqa: F811
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    x, y = blobs(300, 7)
    golden.register(reg.ws, "clf-golden", write_npz(reg.tmp / "g.npz", x, y))
    w = ("-w", str(reg.ws.root), "-f", "json")
    code, out, _ = run_cli(capsys, "monitor", "golden", "run", "clf", *w)
    assert code == 0 and "review_items" not in json.loads(out)  # a pass queues nothing
    bad = np.where(np.random.default_rng(0).random(300) < 0.4, (y + 1) % 3, y)
    golden.register(reg.ws, "clf-golden", write_npz(reg.tmp / "g2.npz", x, bad))
    code, out, _ = run_cli(capsys, "monitor", "golden", "run", "clf", *w)
    queued = json.loads(out)["review_items"]
    assert code == 1 and queued > 60
    assert queue.counts(reg.ws, "clf")["open"] == queued
    code, out, _ = run_cli(capsys, "review", "queue", "clf", "--golden", *w)
    assert code == 0 and json.loads(out)["queued"] == 0  # the same rows: already queued
    # this golden set's first run is now the reference: a pass, queued only on request
    code, out, _ = run_cli(capsys, "monitor", "golden", "run", "clf", *w)
    assert code == 0 and "review_items" not in json.loads(out)
    code, out, _ = run_cli(capsys, "monitor", "golden", "run", "clf", "--review", *w)
    assert code == 0 and json.loads(out)["review_items"] == 0
