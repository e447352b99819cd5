"""DP-SGD noise and sampling are secret: the published seed no longer replays training."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cpmap.errors import InputError
from cpmap.privacy.dpsgd import UnsafeReproducibleDPWarning

pytest.importorskip("opacus")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def digits() -> Any:
    from cpmap.builtin import digits as load
    from cpmap.models.datasets import Dataset

    x, y = load()
    return Dataset("digits", "0" * 64, x[:600], y[:600], tuple(str(i) for i in range(10)),
                   image_shape=(1, 8, 8))


def _train(ds: Any, **kw: Any) -> Any:
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.training import train

    torch.set_num_threads(1)
    return train(ds, TrainConfig(arch="logreg", epochs=2, lr=0.1, dp_epsilon=4.0, seed=0, **kw))


def _distance(a: Any, b: Any) -> float:
    return max(float((va - vb).abs().max()) for va, vb in zip(
        a.model.module.state_dict().values(), b.model.module.state_dict().values(), strict=True))


def test_retraining_with_the_published_seed_does_not_reproduce_the_model(digits: Any) -> None:
    """The attack: retrain with and without the target record from the recorded seed; the
    run that reproduces the released weights exactly reveals membership (it used to: 0.0)."""
    released = _train(digits)
    with_target = _train(digits)
    without_target = _train(digits.subset(np.arange(1, len(digits.y))))
    assert _distance(released, with_target) > 0
    assert _distance(released, without_target) > 0
    assert released.dp["unsafe_reproducible_dp"] is False
    assert "never recorded" in released.dp["randomness"] and released.dp["secure_noise"]


def test_reproducible_dp_is_an_explicit_labelled_unsafe_option(digits: Any) -> None:
    with pytest.warns(UnsafeReproducibleDPWarning, match="Do not release"):
        a = _train(digits, unsafe_reproducible_dp=True)
    with pytest.warns(UnsafeReproducibleDPWarning):
        b = _train(digits, unsafe_reproducible_dp=True)
    assert _distance(a, b) == 0.0
    assert a.dp["unsafe_reproducible_dp"] is True and "UNSAFE" in a.dp["randomness"]


def test_per_epoch_loss_and_accuracy_are_not_stored(digits: Any) -> None:
    seen: list[dict[str, Any]] = []
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.training import train

    out = train(digits, TrainConfig(arch="logreg", epochs=2, lr=0.1, dp_epsilon=4.0),
                on_epoch=seen.append)
    assert "loss" in seen[0] and "train_accuracy" in seen[0]  # the operator's progress bar
    assert all(set(h) == {"epoch", "epochs", "epsilon", "seconds"} for h in out.history)
    assert "clean_accuracy" in out.non_private and "non_private" not in out.dp


def test_delta_must_be_below_one_over_n(digits: Any) -> None:
    with pytest.raises(InputError, match=r"--dp-delta 0.002: must be in \(0, 1/n\) for n = 600"):
        _train(digits, dp_delta=0.002)


def test_unsafe_flag_needs_dp() -> None:
    from cpmap.robustness.config import TrainConfig

    with pytest.raises(InputError, match="only with --dp-epsilon"):
        TrainConfig(unsafe_reproducible_dp=True).check()


def test_the_spend_evidence_records_the_randomness(ws: Any) -> None:
    from cpmap.core.ledger import Ledger
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.service import train_model

    torch.set_num_threads(1)
    cfg = TrainConfig(arch="logreg", epochs=1, lr=0.1, dp_epsilon=4.0)
    t = train_model(ws, "builtin:digits", cfg, "dp")
    spend = Ledger(ws).get(t.version.record["privacy_spend_entry"]).predicate["details"]
    assert spend["unsafe_reproducible_dp"] is False and "csprng" in spend["randomness"]


def test_non_private_metrics_are_a_typed_field_the_report_and_gate_read(ws: Any) -> None:
    """The status was a loose key inside ``dp``: nothing typed said which figures were private,
    and a model trained with replayable noise passed the gate like any DP model."""
    import warnings

    from cpmap.core.ledger import Ledger
    from cpmap.formats.report import build_map
    from cpmap.gate.kit import Item
    from cpmap.robustness.config import TrainConfig
    from cpmap.robustness.control import CP4Rule
    from cpmap.robustness.predicates import ModelTraining
    from cpmap.robustness.requirement import requirement
    from cpmap.robustness.service import train_model

    torch.set_num_threads(1)
    cfg = TrainConfig(arch="logreg", epochs=1, lr=0.1, dp_epsilon=2.0, dp_delta=1e-6)
    t = train_model(ws, "builtin:digits", cfg, "dp")
    entry = Ledger(ws).entries(kind="model-training")[-1]
    pred = ModelTraining.parse(entry.predicate)
    assert "clean_accuracy" in pred.non_private and not pred.unsafe_reproducible_dp
    assert pred.dp is not None and "non_private" not in pred.dp
    assert any(h.startswith("non-private") for h in pred.highlights)
    views = [k for c in build_map(ws).cells for k in c.kinds if k.kind == "model-training"]
    assert "clean_accuracy (non-private)" in views[-1].metrics
    assert "robust_accuracy@0.1 (non-private)" in views[-1].metrics
    assert "train_seconds" in views[-1].metrics  # not computed on private rows
    item = Item(1, "CP4", pred.kind, entry.created_at, {t.version.digest: "dp@1"}, pred)
    assert not any("recorded seed" in r.text for r in requirement([item], None, CP4Rule()))  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeReproducibleDPWarning)
        u = train_model(ws, "builtin:digits",
                        TrainConfig(arch="logreg", epochs=1, lr=0.1, dp_epsilon=2.0,
                                    dp_delta=1e-6, unsafe_reproducible_dp=True), "dp-unsafe")
    upred = ModelTraining.parse(Ledger(ws).entries(kind="model-training")[-1].predicate)
    assert upred.unsafe_reproducible_dp
    uitem = Item(2, "CP4", upred.kind, entry.created_at, {u.version.digest: "dp-unsafe@1"}, upred)
    reasons = requirement([uitem], None, CP4Rule())  # type: ignore[arg-type]
    assert any("drawn from the recorded seed" in r.text for r in reasons)


def test_the_integer_order_accountant_never_reports_less_than_opacus_default() -> None:
    """Integer RDP orders only (Opacus' fractional ones took ~95% of DP-SGD training time):
    the epsilon may be slightly higher than with every default order, never lower."""
    from opacus.accountants import RDPAccountant

    from cpmap.robustness.training import ALPHAS

    for sigma, q, steps in ((1.1, 64 / 180, 60), (0.7, 0.01, 3000), (4.0, 0.1, 200)):
        acc = RDPAccountant()
        acc.history = [(sigma, q, steps)]
        ours = acc.get_epsilon(delta=1e-6, alphas=ALPHAS)
        default = acc.get_epsilon(delta=1e-6)
        assert default <= ours <= default * 1.1 + 0.05


def test_the_per_epoch_epsilon_is_the_accountants(digits: Any) -> None:
    """Computed from one step's RDP times the steps: the same figure Opacus' accountant gives."""
    from opacus.accountants import RDPAccountant

    from cpmap.robustness.training import ALPHAS

    out = _train(digits)
    acc = RDPAccountant()
    n = len(digits.y)
    sigma = out.dp["noise_multiplier"]
    acc.history = [(sigma, 1 / -(-n // 64), 2 * -(-n // 64))]
    assert out.dp["epsilon"] == pytest.approx(acc.get_epsilon(delta=1e-5, alphas=ALPHAS),
                                              abs=1e-3)
    assert out.dp["epsilon"] <= 4.0 + 0.01
    assert [h["epsilon"] for h in out.history] == sorted(h["epsilon"] for h in out.history)
