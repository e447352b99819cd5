"""Keras models: the architecture config (``config.json`` in a .keras zip, the ``model_config``
attribute of a legacy .h5) decides what code runs on load.

``Lambda`` layers carry marshalled Python bytecode that runs when a model is loaded with
``safe_mode=False``: ``malicious``. ``TFOpLambda`` layers naming file or Python-calling ops are
``malicious`` too. Custom objects (classes or functions from outside keras/tensorflow) need their
own code to load: ``suspicious``. HDF5 is read without h5py: attributes are stored uncompressed,
so the JSON config is found by scanning the bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from cpmap.supplychain.modelfiles.report import Collector, ModelVerdict

KERAS_MODULES = ("keras", "tensorflow", "tf_keras")
_RISKY_TF_OPS = ("io.", "py_function", "numpy_function", "py_func", "compat.v1.py_func",
                 "print", "debugging.")
MAX_CONFIG = 64 << 20
H5_SEARCH = 256 << 20


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_config(config: Any, col: Collector, where: str) -> None:
    """Flag Lambda layers, risky TF op layers and custom objects in a Keras config tree."""
    for d in _walk(config):
        cls = d.get("class_name")
        if not isinstance(cls, str):
            continue
        raw_cfg = d.get("config")
        cfg: dict[str, Any] = raw_cfg if isinstance(raw_cfg, dict) else {}
        if cls == "Lambda":
            col.add(ModelVerdict.MALICIOUS, "keras-lambda",
                    f"Lambda layer {cfg.get('name', '?')!r} carries Python code that runs on "
                    "load (safe_mode=False)", where)
        elif cls == "TFOpLambda":
            fn = str(cfg.get("function", ""))
            if any(r in fn for r in _RISKY_TF_OPS):
                col.add(ModelVerdict.MALICIOUS, "keras-tf-op",
                        f"TFOpLambda calls {fn!r}, which reads/writes files or runs Python",
                        where)
        elif cls == "__lambda__" or (cls == "function" and d.get("module") == "__main__"):
            col.add(ModelVerdict.MALICIOUS, "keras-lambda",
                    "serialized Python function in the config", where)
        module = d.get("module")
        registered = d.get("registered_name")
        if isinstance(module, str) and module and not module.startswith(KERAS_MODULES):
            col.add(ModelVerdict.SUSPICIOUS, "keras-custom-object",
                    f"custom object {cls!r} from module {module!r} needs its own code", where)
        elif isinstance(registered, str) and ">" in registered:
            col.add(ModelVerdict.SUSPICIOUS, "keras-custom-object",
                    f"custom registered object {registered!r} needs its own code", where)


def scan_keras_config(data: bytes, col: Collector, where: str) -> None:
    try:
        config = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        col.add(ModelVerdict.SUSPICIOUS, "bad-keras", f"config.json is not valid JSON: {e}"[:200],
                where)
        return
    check_config(config, col, where)


def scan_h5(fh: IO[bytes], col: Collector, where: str) -> None:
    """Find the Keras ``model_config`` JSON in an HDF5 file's raw bytes and check it."""
    mark, chunk = b'{"class_name"', 1 << 22
    decoder = json.JSONDecoder()
    data, read, idx, found = fh.read(chunk), 0, 0, False
    read = len(data)
    eof = len(data) < chunk
    while True:
        start = data.find(mark, idx)
        if start == -1:
            if eof or read >= H5_SEARCH:
                break
            more = fh.read(chunk)
            read += len(more)
            eof = len(more) < chunk
            data, idx = data[-len(mark):] + more, 0
            continue
        try:
            config, _ = decoder.raw_decode(data[start:start + MAX_CONFIG].decode("utf-8",
                                                                                "replace"))
        except ValueError:
            if not eof and len(data) - start < MAX_CONFIG:
                more = fh.read(chunk)  # the JSON may run on into the next chunk
                read += len(more)
                eof = len(more) < chunk
                data += more
                continue
            config = None
        if isinstance(config, dict) and "config" in config:
            found = True
            check_config(config, col, where)
        idx = start + 1
    if found:
        return
    if not eof:
        col.add(ModelVerdict.SUSPICIOUS, "h5-unparsed",
                f"no Keras config in the first {H5_SEARCH >> 20} MiB (h5py is not used)", where)
    else:
        col.add(ModelVerdict.SAFE, "h5-weights-only",
                "no Keras model config: weights only, nothing runs on load", where)
