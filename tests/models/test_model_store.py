"""The workspace model store, the remote adapter and the `cpmap models` commands."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from cpmap.errors import InputError, VerificationFailed
from cpmap.models import ArchSpec, RemoteModel, TorchModel, build, get_model, list_models, load
from cpmap.models import save_model as save
from cpmap.models.persist import UnsafeLoadWarning

X = np.random.default_rng(1).random((5, 4), dtype=np.float32)


def _model() -> TorchModel:
    import torch

    torch.manual_seed(0)
    spec = ArchSpec("mlp", 4, 3, (8,))
    return TorchModel(build(spec), spec)


def test_versions_are_content_addressed_and_signed(ws: Any) -> None:
    from cpmap.core.ledger import Ledger

    m = _model()
    v1 = save(ws, "m", m, {"seed": 1})
    v2 = save(ws, "m", m, {"seed": 2})
    assert (v1.version, v2.version) == (1, 2) and v1.digest == v2.digest
    assert (ws.objects_dir / "sha256" / v1.digest).is_file()
    assert get_model(ws, "m").version == 2 and get_model(ws, "m@1").record["seed"] == 1
    assert get_model(ws, f"sha256:{v1.digest}").name == "m"
    assert [mv.ref for mv in list_models(ws)] == ["m@1", "m@2"]
    entry = Ledger(ws).entries(digest=v1.digest)[0]
    assert entry.predicate["control"] == "CP4"
    assert "torch" in v1.record["libraries"]
    np.testing.assert_allclose(load("m@1", ws).predict_proba(X), m.predict_proba(X), rtol=1e-6)
    with pytest.raises(InputError, match="not in the workspace"):
        get_model(ws, "other")
    with pytest.raises(InputError, match="model name"):
        save(ws, "../evil", m, {})


def test_an_altered_artifact_is_not_loaded(ws: Any) -> None:
    mv = save(ws, "m", _model(), {})
    path = ws.objects_dir / "sha256" / mv.digest
    path.write_bytes(path.read_bytes()[:-1] + b" ")
    with pytest.raises(VerificationFailed):
        load("m", ws)


def test_remote_model_sends_the_key_from_the_env_and_counts_queries(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        rows = json.loads(request.content)["inputs"]
        if len(rows) == 1:
            return httpx.Response(200, json={"predictions": [2]})
        return httpx.Response(200, json={"probabilities": [[0.2, 0.3, 0.5]] * len(rows)})

    monkeypatch.setenv("CPMAP_MODEL_API_KEY", "s3cret")
    m = RemoteModel("http://127.0.0.1:9/predict", 3, 4, batch=3,
                    client=httpx.Client(transport=httpx.MockTransport(handler),
                                        headers={"Authorization": "Bearer s3cret"}))
    out = m.predict_proba(X)
    assert out.shape == (5, 3) and m.queries == 5 and len(seen) == 2
    assert seen[0].headers["authorization"] == "Bearer s3cret"
    assert m.predict_proba(X[:1]).tolist() == [[0.0, 0.0, 1.0]]


def test_remote_model_rejects_bad_answers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if b"[[0" in request.content:
            return httpx.Response(503)
        return httpx.Response(200, json={"probabilities": [[1.0]]})

    m = RemoteModel("http://127.0.0.1:9/p", 3, 4,
                    client=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(InputError, match="expected 5x3"):
        m.predict_proba(X + 1)
    with pytest.raises(InputError, match="HTTP 503"):
        m.predict_proba(np.zeros((1, 4)))
    with pytest.raises(InputError, match="n_classes"):
        load("https://example.invalid/p")


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``cpmap ARGS`` in-process through the real entry point (exit codes included)."""
    from cpmap.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_models_cli_list_show_add_trust(ws: Any, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.linear_model import LogisticRegression

    w = ("-w", str(ws.root))
    save(ws, "m", _model(), {"seed": 7, "datasets": [{"ref": "d@1", "digest": "0" * 64}]})
    code, out, _ = run_cli(capsys, "models", "list", *w, "-f", "json")
    assert code == 0 and json.loads(out)[0]["ref"] == "m@1"
    code, out, _ = run_cli(capsys, "models", "show", "m", *w)
    assert code == 0 and "dataset    d@1" in out
    pkl = tmp_path / "lr.pkl"
    pkl.write_bytes(pickle.dumps(LogisticRegression().fit(X, [0, 1, 0, 1, 0])))
    code, _, err = run_cli(capsys, "models", "add", str(pkl), "--name", "lr", *w)
    assert code == 1 and "not trusted" in err and "Traceback" not in err
    digest = hashlib.sha256(pkl.read_bytes()).hexdigest()
    code, _, err = run_cli(capsys, "models", "trust", digest, "--note", "reviewed", *w)
    assert code == 0, err
    with pytest.warns(UnsafeLoadWarning):
        code, _, err = run_cli(capsys, "models", "add", str(pkl), "--name", "lr", *w)
    assert code == 0, err
    assert get_model(ws, "lr").format == "skops"  # converted to a safe format on the way in
    code, _, err = run_cli(capsys, "models", "trust", "xyz", "--note", "n", *w)
    assert code == 2 and "not a SHA-256" in err


def test_models_add_names_a_missing_file_or_a_directory(
        ws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    w = ("-w", str(ws.root))
    code, _, err = run_cli(capsys, "models", "add", str(tmp_path / "no such.safetensors"),
                           "--name", "x", *w)
    assert code == 2 and "no such.safetensors: no such file" in err
    code, _, err = run_cli(capsys, "models", "add", str(tmp_path), "--name", "x", *w)
    assert code == 2 and "is a directory" in err


@pytest.mark.parametrize("body", [{"probabilities": [[1, "a", 0]]}, {"predictions": ["x"]},
                                  {"probabilities": [[1], [2, 3]]},
                                  {"probabilities": {"a": 1}}])
def test_remote_model_answers_that_are_not_numbers_are_input_errors(body: Any) -> None:
    m = RemoteModel("http://127.0.0.1:9/p", 3, 4, client=httpx.Client(
        transport=httpx.MockTransport(lambda _r: httpx.Response(200, json=body))))
    with pytest.raises(InputError, match="127.0.0.1:9/p"):
        m.predict_proba(np.zeros((1, 4), dtype=np.float32))
