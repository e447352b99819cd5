"""MLflow interop against a local SQLite tracking store: export with evidence tags, import of
safe formats only."""

from __future__ import annotations

from pathlib import Path

import pytest

from cpmap.core.workspace import Workspace
from cpmap.errors import InputError
from cpmap.registry.versions import register

pytest.importorskip("mlflow")

pytestmark = pytest.mark.slow  # importing MLflow takes several seconds


def test_export_then_import_round_trip(ws: Workspace, tmp_path: Path) -> None:
    from cpmap.registry.mlflow_interop import export_version, import_version

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"w": np.ones((4, 4), dtype=np.float32)}, str(tmp_path / "m.safetensors"))
    mv = register(ws, "clf", tmp_path / "m.safetensors").version
    out = export_version(ws, mv, uri)
    assert out.version == "1" and out.source.startswith("runs:/")

    from mlflow import MlflowClient

    tags = MlflowClient(tracking_uri=uri).get_model_version("clf", "1").tags
    assert tags["cpmap.digest"] == f"sha256:{mv.digest}"
    assert tags["cpmap.gate"] == "failed" and "CP4" in tags["cpmap.gate.failing"]

    back = import_version(ws, uri, "clf", "1", name="clf-imported")
    assert back.created and back.version.name == "clf-imported"
    # the MLflow artifact is the directory `model/` holding the same file
    assert [f.sha256 for f in back.version.artifact.files] == [mv.digest]
    assert back.version.lineage.training["mlflow"]["run_id"] == out.run_id  # type: ignore[index]


def test_pickle_models_are_refused(ws: Workspace, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from cpmap.registry.mlflow_interop import import_version

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.create_run(client.create_experiment("e"))
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors:\n  sklearn:\n    pickled_model: model.pkl\n")
    (model / "model.pkl").write_bytes(b"\x80\x04N.")
    client.log_artifacts(run.info.run_id, str(model), "model")
    client.create_registered_model("evil")
    client.create_model_version("evil", f"runs:/{run.info.run_id}/model", run.info.run_id)
    with pytest.raises(InputError, match="refused") as info:
        import_version(ws, uri, "evil", "1")
    assert "unpickling" in info.value.message and "model.pkl" in info.value.message


@pytest.mark.parametrize("uri", ["garbage://x", "file:///nonexistent/mlruns"])
def test_unusable_tracking_uri_is_one_clear_error(ws: Workspace, tmp_path: Path,
                                                  uri: str) -> None:
    from cpmap.registry.mlflow_interop import export_version, import_version

    (tmp_path / "m.bin").write_bytes(b"w")
    mv = register(ws, "clf", tmp_path / "m.bin").version
    with pytest.raises(InputError, match="--tracking-uri .*: MLflow refused") as e:
        export_version(ws, mv, uri)
    assert "\n" not in e.value.message
    with pytest.raises(InputError, match="--tracking-uri .*: MLflow refused"):
        import_version(ws, uri, "clf", "1")


def test_tracking_uri_password_is_not_printed() -> None:
    from mlflow.exceptions import MlflowException

    from cpmap.registry.mlflow_interop import mlflow_errors

    uri = "postgresql://u:hunter2@db.invalid/mlflow"
    with pytest.raises(InputError) as e, mlflow_errors(uri):
        raise MlflowException(f"cannot reach {uri}")
    assert "hunter2" not in e.value.message and "u:***@db.invalid" in e.value.message


def test_export_to_an_unreachable_tracking_server_fails_in_seconds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from cpmap.cli import main as cli_main
    from cpmap.core.workspace import init

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ws = init(tmp_path / "p", "acme")
    (tmp_path / "m.json").write_text("{}")
    from cpmap.registry.versions import register

    register(ws, "m", tmp_path / "m.json")
    with pytest.raises(SystemExit) as done:
        cli_main(["registry", "export-mlflow", "m@1", "--tracking-uri",
                  f"http://127.0.0.1:{port}", "--workspace", str(ws.root)])
    assert done.value.code == 2
    assert "cannot connect within" in capsys.readouterr().err


def test_exported_version_loads_with_mlflow_pyfunc(ws: Workspace, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's own loader reads the export: an MLmodel with a pyfunc flavor whose loader is
    cpmap's safe one (skops here), no cloudpickle, predictions equal to the model's."""
    import mlflow
    import numpy as np
    import skops.io as sio
    import yaml
    from mlflow.artifacts import download_artifacts
    from sklearn.linear_model import LogisticRegression

    from cpmap.registry.mlflow_interop import export_version, unsafe_reasons

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    clf = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    sio.dump(clf, tmp_path / "clf.skops")
    mv = register(ws, "clf", tmp_path / "clf.skops").version
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = export_version(ws, mv, uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    local = Path(download_artifacts(artifact_uri=out.source, dst_path=str(tmp_path / "dl"),
                                    tracking_uri=uri))
    doc = yaml.safe_load((local / "MLmodel").read_text())
    pyfunc = doc["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "cpmap.registry.mlflow_pyfunc"
    assert pyfunc["data"] == "data/clf.skops" and "cloudpickle_version" not in pyfunc
    assert unsafe_reasons(local) == []
    model = mlflow.pyfunc.load_model(f"models:/clf/{out.version}")
    got = np.asarray(model.predict(x[:5]))
    assert np.allclose(got, clf.predict_proba(x[:5]), atol=1e-6)
