"""Model-file scanning: the evasive corpus, the canary, containers and limits."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpmap.errors import InputError
from cpmap.supplychain.modelfiles import ModelVerdict, scan_file, scan_path
from cpmap.supplychain.modelfiles.policy import classify

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "models"


def load_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cpmap_model_corpus", ASSETS / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


corpus = load_corpus()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, Path]:
    root = tmp_path_factory.mktemp("corpus")
    canary = root / "CANARY"
    return corpus.build(root / "files", canary), canary


def test_every_corpus_file_gets_its_expected_verdict(built: tuple[list, Path]) -> None:
    cases, _ = built
    wrong = {c.name: (scan_file(c.path).verdict.value, c.expected) for c in cases
             if scan_file(c.path).verdict.value != c.expected}
    assert wrong == {}
    assert sum(c.expected == "malicious" for c in cases) >= 40


def test_scanning_never_runs_a_payload(built: tuple[list, Path]) -> None:
    cases, canary = built
    reports = scan_path(cases[0].path.parent)
    assert len(reports) >= len(cases) - 1
    assert any(r.verdict is ModelVerdict.MALICIOUS for r in reports)
    assert not canary.exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["os_system_p2.pkl", "memo_stack_global.pkl",
                                  "getattr_chain.pkl", "nested_pickle_loads.pkl",
                                  "malformed_tail.pkl", "joblib_after_array.joblib",
                                  "object_array.npy"])
def test_the_payloads_are_live(built: tuple[list, Path], name: str) -> None:
    """Loading (in a child process) does write the canary: the corpus tests something real."""
    cases, canary = built
    case = next(c for c in cases if c.name == name)
    canary.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-c", corpus.LOAD_SNIPPET[case.loader], str(case.path)],
                   capture_output=True, timeout=120, check=False)
    assert canary.exists(), f"{name} did not run its payload when loaded"
    canary.unlink()


def test_picklescan_cross_check(built: tuple[list, Path]) -> None:
    """Whatever picklescan calls dangerous, cpmap calls malicious too."""
    scanner = pytest.importorskip("picklescan.scanner")
    cases, _ = built
    for case in cases:
        if case.path.suffix not in (".pkl", ".pt", ".joblib", ".npy"):
            continue
        result = scanner.scan_file_path(str(case.path))
        if result.infected_files:
            assert scan_file(case.path).verdict is ModelVerdict.MALICIOUS, case.name


@pytest.mark.parametrize(("module", "name", "verdict"), [
    ("collections", "OrderedDict", "safe"),
    ("torch._utils", "_rebuild_tensor_v2", "safe"),
    ("torch", "FloatStorage", "safe"),
    ("numpy", "log1p", "safe"),
    ("sklearn.linear_model._logistic", "LogisticRegression", "safe"),
    ("sklearn.utils", "some_function", "suspicious"),
    ("torch.nn.modules.linear", "Linear.forward", "suspicious"),
    ("mypackage.model", "Net", "suspicious"),
    ("__main__", "Net", "suspicious"),
    ("os", "system", "malicious"),
    ("nt", "system", "malicious"),
    ("builtins", "getattr", "malicious"),
    ("importlib.util", "spec_from_file_location", "malicious"),
    ("numpy.testing._private.utils", "runstring", "malicious"),
    ("torch.utils.collect_env", "run", "malicious"),
    ("webbrowser", "open_new", "malicious"),
    ("pickle", "loads", "suspicious"),
    ("io", "open", "malicious"),
])
def test_policy(module: str, name: str, verdict: str) -> None:
    assert classify(module, name)[0].value == verdict


def test_benign_pickles_of_plain_data_are_safe(tmp_path: Path) -> None:
    @given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                        | st.text(max_size=20) | st.binary(max_size=20),
                        lambda kids: st.lists(kids, max_size=4) | st.tuples(kids, kids)
                        | st.dictionaries(st.text(max_size=5), kids, max_size=4), max_leaves=20),
           st.integers(min_value=0, max_value=5))
    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    def check(value: object, protocol: int) -> None:
        path = tmp_path / "value.pkl"
        path.write_bytes(pickle.dumps(value, protocol=protocol))
        assert scan_file(path).verdict is ModelVerdict.SAFE

    check()


def test_arbitrary_bytes_never_crash_the_scanner(tmp_path: Path) -> None:
    @given(st.binary(max_size=300), st.sampled_from([".pkl", ".pt", ".npy", ".onnx", ".h5",
                                                     ".safetensors", ".joblib", ".zip"]))
    @settings(max_examples=120, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    def check(data: bytes, ext: str) -> None:
        path = tmp_path / f"fuzz{ext}"
        path.write_bytes(data)
        report = scan_file(path)
        assert report.verdict in set(ModelVerdict)

    check()


def _safetensors(header: dict, data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize(("header", "data", "problem"), [
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, None),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}}, b"\0" * 16, "needs"),
    ({"w": {"dtype": "X9", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, "dtype"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, "cover"),
    ({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
      "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}, b"\0" * 6, "overlap"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "shape"),
    ({"__metadata__": {"k": 1}, "w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}},
     b"\0", "__metadata__"),
])
def test_safetensors_header_validation(tmp_path: Path, header: dict, data: bytes,
                                       problem: str | None) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(_safetensors(header, data))
    report = scan_file(path)
    assert report.format == "safetensors"
    if problem is None:
        assert report.verdict is ModelVerdict.SAFE
    else:
        assert report.verdict is ModelVerdict.SUSPICIOUS
        assert any(problem in r.message for r in report.reasons), report.reasons


def test_safetensors_duplicate_keys(tmp_path: Path) -> None:
    raw = b'{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "w": ' \
          b'{"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}'
    path = tmp_path / "dup.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0")
    assert scan_file(path).verdict is ModelVerdict.SUSPICIOUS


def test_zip_path_traversal_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../../evil.txt", "x")
        zf.writestr("weights.txt", "1")
    report = scan_file(path)
    assert report.verdict is ModelVerdict.SUSPICIOUS
    assert any(r.code == "path-traversal" for r in report.reasons)


def test_torch_checkpoint_tensor_payload_is_never_read(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "big.pt"
    torch.save({"w": torch.zeros(4_000_000)}, path)  # 16 MB of tensor data
    report = scan_file(path)
    assert report.verdict is ModelVerdict.SAFE
    assert report.size > 16_000_000
    assert report.bytes_read < 200_000


def test_h5_with_lambda_config_found_without_h5py(tmp_path: Path) -> None:
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Lambda", "config": {"name": "l", "function": ["4wEA", None, None]}}]}}
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 500 + json.dumps(config).encode() + b"\0")
    report = scan_file(path)
    assert report.format == "hdf5"
    assert report.verdict is ModelVerdict.MALICIOUS
    weights = tmp_path / "weights.h5"
    weights.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(2000))
    assert scan_file(weights).verdict is ModelVerdict.SAFE


def test_keras_custom_object_is_suspicious(tmp_path: Path) -> None:
    path = tmp_path / "custom.keras"
    path.write_bytes(corpus._keras({"module": "my_layers", "class_name": "Fancy",
                                    "config": {"name": "f"}}))
    report = scan_file(path)
    assert report.verdict is ModelVerdict.SUSPICIOUS
    assert any("my_layers" in r.message for r in report.reasons)


def test_onnx_absolute_location_and_custom_domain(tmp_path: Path) -> None:
    path = tmp_path / "abs.onnx"
    path.write_bytes(corpus.onnx_with_external("/etc/passwd"))
    assert scan_file(path).verdict is ModelVerdict.MALICIOUS
    opset = corpus._field(1, b"evil.custom") + corpus._varint(2 << 3) + corpus._varint(1)
    custom = tmp_path / "custom.onnx"
    custom.write_bytes(corpus._varint(1 << 3) + corpus._varint(8) + corpus._field(8, opset))
    report = scan_file(custom)
    assert report.verdict is ModelVerdict.SUSPICIOUS
    assert any(r.code == "onnx-custom-domain" for r in report.reasons)


def test_unknown_format_is_suspicious_and_missing_path_is_input_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert scan_file(path).verdict is ModelVerdict.SUSPICIOUS
    with pytest.raises(InputError):
        scan_path(tmp_path / "missing.pt")


def test_npy_truncated_is_suspicious(tmp_path: Path) -> None:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.arange(100.0))
    path = tmp_path / "cut.npy"
    path.write_bytes(buf.getvalue()[:200])
    report = scan_file(path)
    assert report.verdict is ModelVerdict.SUSPICIOUS
    assert any("truncated" in r.message for r in report.reasons)


def test_opcode_limit_makes_a_huge_pickle_suspicious(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from cpmap.supplychain.modelfiles import pickles

    path = tmp_path / "big.pkl"
    path.write_bytes(pickle.dumps(list(range(5000))))
    assert scan_file(path).verdict is ModelVerdict.SAFE
    monkeypatch.setattr(pickles, "MAX_OPS", 1000)
    report = scan_file(path)
    assert report.verdict is ModelVerdict.SUSPICIOUS
    assert any("too large to analyse" in r.message for r in report.reasons)


def test_corrupted_real_files_never_crash_or_pass_as_broken(built: tuple[list, Path],
                                                            tmp_path: Path) -> None:
    """Flip bytes in real checkpoints, joblib and compressed files: always a verdict."""
    cases, _ = built
    sources = [c.path for c in cases if c.name in (
        "benign_state_dict.pt", "benign_sklearn_z.joblib", "benign_legacy.pt", "evil.gz",
        "benign.npz", "joblib_after_array.joblib", "benign_dense.keras")]

    @given(st.sampled_from(sources), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)),
                                              min_size=1, max_size=8))
    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    def check(source: Path, flips: list[tuple[float, int]]) -> None:
        data = bytearray(source.read_bytes())
        for where, value in flips:
            data[min(int(where * len(data)), len(data) - 1)] = value
        path = tmp_path / f"mutant{source.suffix}"
        path.write_bytes(bytes(data))
        assert scan_file(path).verdict in set(ModelVerdict)

    check()


def test_skops_types_are_judged_by_the_allowlist(tmp_path: Path) -> None:
    import numpy as np
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    good = tmp_path / "scaler.skops"
    sio.dump(StandardScaler().fit(np.eye(3)), good)
    report = scan_file(good)
    assert (report.format, report.verdict) == ("skops", ModelVerdict.SAFE)
    bad = tmp_path / "shell.skops"
    sio.dump(FunctionTransformer(func=os.system), bad)
    report = scan_file(bad)
    assert report.verdict is ModelVerdict.MALICIOUS
    assert any("system" in g for g in report.globals)


def test_directory_scan_finds_pickles_whatever_their_name(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# model\n")
    (tmp_path / "weights.txt").write_bytes(pickle.dumps({"w": [1.0]}))
    names = [Path(r.path).name for r in scan_path(tmp_path)]
    assert names == ["weights.txt"]


@pytest.mark.parametrize("name", ["__dict__", "dict.__subclasses__", "object.__reduce_ex__"])
def test_introspection_chains_are_malicious(name: str) -> None:
    assert classify("builtins", name)[0] is ModelVerdict.MALICIOUS


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_given_explicitly_is_named_not_a_regular_file(tmp_path: Path) -> None:
    from cpmap.errors import InputError
    from cpmap.supplychain.modelfiles import scan_path

    os.mkfifo(tmp_path / "model.pkl")
    with pytest.raises(InputError, match="model.pkl: not a regular file"):
        scan_path(tmp_path / "model.pkl")
    with pytest.raises(InputError, match="gone.pkl: no such file"):
        scan_path(tmp_path / "gone.pkl")
    assert scan_path(tmp_path) == []  # walked directories skip it too
