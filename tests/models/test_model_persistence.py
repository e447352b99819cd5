"""Safe persistence: safetensors + spec, skops with its type review, pickles refused."""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cpmap.errors import Error, InputError
from cpmap.models import (
    ArchSpec,
    SklearnModel,
    TorchModel,
    UntrustedPickle,
    UntrustedTypes,
    build,
    load,
    save_file,
)
from cpmap.models.persist import UnsafeLoadWarning, detect_format, load_bytes

X = np.random.default_rng(0).random((20, 64), dtype=np.float32)


def _torch(arch: str) -> TorchModel:
    torch.manual_seed(0)
    spec = ArchSpec(arch, 64, 10, (8, 8) if arch == "cnn" else (16,),
                    (1, 8, 8) if arch == "cnn" else None)
    return TorchModel(build(spec), spec, meta={"classes": [str(i) for i in range(10)]})


@pytest.mark.parametrize("arch", ["logreg", "mlp", "cnn"])
def test_safetensors_round_trip_rebuilds_the_network_from_its_spec(arch: str,
                                                                   tmp_path: Path) -> None:
    m = _torch(arch)
    path = tmp_path / "m.safetensors"
    digest = save_file(m, path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    back = load(path)
    assert isinstance(back, TorchModel) and back.spec == m.spec
    assert back.meta["classes"][3] == "3"
    np.testing.assert_allclose(back.predict_proba(X), m.predict_proba(X), rtol=1e-6)


def test_spec_can_sit_beside_plain_weights(tmp_path: Path) -> None:
    from safetensors.torch import save_file as st_save

    m = _torch("mlp")
    st_save({k: v.contiguous() for k, v in m.net.state_dict().items()},
            str(tmp_path / "w.safetensors"))
    with pytest.raises(InputError, match="no architecture spec"):
        load(tmp_path / "w.safetensors")
    (tmp_path / "w.json").write_text(m.spec.to_json())
    np.testing.assert_allclose(load(tmp_path / "w.safetensors").predict_proba(X),
                               m.predict_proba(X), rtol=1e-6)


def test_weights_that_do_not_match_the_spec_are_rejected(tmp_path: Path) -> None:
    data = tmp_path / "m.safetensors"
    save_file(_torch("mlp"), data)
    bad = ArchSpec("mlp", 64, 10, (32,))
    with pytest.raises(InputError, match="do not match"):
        load_bytes(data.read_bytes(), "m", spec_json=bad.to_json())
    with pytest.raises(InputError, match="unknown architecture"):
        load_bytes(data.read_bytes(), "m", spec_json='{"arch": "evil", "input_dim": 64, '
                                                     '"n_classes": 10}')


def test_skops_surfaces_untrusted_types_until_reviewed(tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    y = np.arange(20) % 2
    est = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    path = tmp_path / "rf.skops"
    save_file(SklearnModel(est), path)
    with pytest.raises(UntrustedTypes) as exc:
        load(path)
    assert "sklearn.tree._tree.Tree" in exc.value.types
    assert "--trust-type sklearn.tree._tree.Tree" in exc.value.diagnostics()
    back = load(path, trusted_types=["sklearn.tree._tree.Tree"])
    np.testing.assert_allclose(back.predict_proba(X), est.predict_proba(X))


class _Boom:
    """Unpickling this writes a marker file: proof that a load ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "pwned"))


def test_pickles_are_refused_without_running_them(ws: Any, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_Boom(marker)))
    with pytest.raises(UntrustedPickle) as exc:
        load(path, ws)
    assert exc.value.exit_code == 1
    assert hashlib.sha256(path.read_bytes()).hexdigest() in exc.value.diagnostics()
    assert "CP3 model-file scan: " in exc.value.diagnostics()  # the scanner says why
    assert not marker.exists()


def test_torch_save_files_are_pickles_too(ws: Any, tmp_path: Path) -> None:
    buf = io.BytesIO()
    torch.save(_torch("mlp").net, buf)
    (tmp_path / "m.pt").write_bytes(buf.getvalue())
    assert detect_format(buf.getvalue(), ".pt") == "torch-pickle"
    with pytest.raises(UntrustedPickle):
        load(tmp_path / "m.pt", ws)


def test_a_trusted_digest_loads_and_is_recorded(ws: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from cpmap.core.ledger import Ledger
    from cpmap.models.trust import trust

    est = LogisticRegression().fit(X, np.arange(20) % 2)
    path = tmp_path / "lr.pkl"
    path.write_bytes(pickle.dumps(est))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    index = trust(ws, digest, "reviewed by test")
    with pytest.warns(UnsafeLoadWarning, match="trusted pickle"):
        assert load(path, ws).kind == "pickle"
    entry = Ledger(ws).entries(kind="model-pickle-trust")[-1]
    assert entry.index == index
    with pytest.raises(InputError, match="already trusted"):
        trust(ws, digest, "again")
    path.write_bytes(path.read_bytes() + b".")  # any other bytes: refused again
    with pytest.raises(UntrustedPickle):
        load(path, ws)


def test_a_config_listing_grants_trust_only_once_signed(ws: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from cpmap.core.ledger import Ledger
    from cpmap.core.workspace import open_workspace
    from cpmap.models.trust import trust_listed

    path = tmp_path / "lr.pkl"
    path.write_bytes(pickle.dumps(LogisticRegression().fit(X, np.arange(20) % 2)))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    toml = ws.dir / "cpmap.toml"
    toml.write_text(toml.read_text() + f'\n[models]\ntrusted_pickle_digests = ["{digest}"]\n')
    listed = open_workspace(ws.root)
    with pytest.raises(UntrustedPickle, match="only a signed ledger entry grants trust"):
        load(path, listed)  # a file edit alone is no grant: nothing on the record
    [(trusted, index)] = trust_listed(listed, "reviewed by the test")
    assert trusted == digest
    assert Ledger(listed).get(index).statement["predicateType"].endswith("model-pickle-trust/v1")
    with pytest.warns(UnsafeLoadWarning):
        assert load(path, listed).n_classes == 2
    assert trust_listed(listed, "again") == []


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_clean_error_never_a_crash(data: bytes) -> None:
    try:
        load_bytes(data, "fuzz", suffix=".bin")
    except Error:
        pass


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=200))
def test_safetensors_headers_are_parsed_defensively(tail: bytes) -> None:
    blob = (len(tail) + 1).to_bytes(8, "little") + b"{" + tail
    try:
        load_bytes(blob, "fuzz")
    except Error:
        pass
