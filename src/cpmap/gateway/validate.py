"""Strict parsing of an Open Inference Protocol v2 infer request, without a schema library.

The contract comes from the served model (:class:`~cpmap.gateway.served.InputSpec`): one input
of the model's name, FP32 (FP64 accepted and narrowed), shape ``[n, dim]`` with ``n`` capped,
data flat or nested as the shape, every element a JSON number within the training range
widened by a margin; no NaN or infinity (not even as a literal), no duplicate or extra keys,
no booleans or strings posing as numbers. Every failure is a :class:`Refusal` with a 4xx code
naming what is wrong; nothing here can raise anything else on any input.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.gateway.errors import Refusal

if TYPE_CHECKING:
    from cpmap.gateway.config import GatewayConfig
    from cpmap.gateway.served import InputSpec

ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
TOP_KEYS = frozenset({"id", "inputs", "outputs", "parameters"})
INPUT_KEYS = frozenset({"name", "shape", "datatype", "data", "parameters"})
PARAM_KEYS = frozenset({"content_type"})
NUMBER = frozenset({int, float})


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    x: np.ndarray | None  # float32 [n, dim]; None when the input is an image (``image``)
    image: bytes | None = None


def bad(message: str, reason: str = "invalid-input", status: int = 400) -> Refusal:
    return Refusal(status, message, reason)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def parse_json(body: bytes, cfg: GatewayConfig) -> Any:
    if body.count(b",") + 1 > cfg.max_elements:
        raise bad(f"body: more than {cfg.max_elements} elements", "too-many-elements", 413)
    try:
        return json.loads(body, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except RecursionError:
        raise bad("body: JSON nested too deeply", "too-deep") from None
    except (ValueError, TypeError) as e:  # UnicodeDecodeError is a ValueError
        raise bad(f"body: not valid JSON ({str(e).split(':')[0][:80]})", "bad-json") from None


def _check_keys(obj: Any, allowed: frozenset[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise bad(f"{where}: must be a JSON object")
    extra = sorted(set(obj) - allowed)
    if extra:
        raise bad(f"{where}: unknown field {extra[0][:40]!r}")
    return obj


def _params(obj: Any, where: str) -> dict[str, Any]:
    params = _check_keys(obj, PARAM_KEYS, where)
    for k, v in params.items():
        if not isinstance(v, str) or len(v) > 64:
            raise bad(f"{where}.{k}: must be a short string")
    return params


def parse_infer(body: bytes, spec: InputSpec, cfg: GatewayConfig,
                outputs: frozenset[str]) -> InferRequest:
    """Validate an infer body against ``spec``; the rows as float32, or the image bytes."""
    doc = _check_keys(parse_json(body, cfg), TOP_KEYS, "request")
    rid = doc.get("id")
    if rid is not None and (not isinstance(rid, str) or not ID_RE.fullmatch(rid)):
        raise bad("id: must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    if "parameters" in doc:
        _params(doc["parameters"], "parameters")
    _requested(doc.get("outputs"), outputs)
    inputs = doc.get("inputs")
    if spec.table is not None:  # a table model: one input per named column
        from cpmap.gateway.table import parse_columns

        return InferRequest(rid, parse_columns(inputs, spec.table, cfg))
    if not isinstance(inputs, list) or len(inputs) != 1:
        raise bad(f"inputs: must be a list holding one input named {spec.name!r}")
    tensor = _check_keys(inputs[0], INPUT_KEYS, "inputs[0]")
    if tensor.get("name") != spec.name:
        raise bad(f"inputs[0].name: must be {spec.name!r}")
    if "parameters" in tensor:
        _params(tensor["parameters"], "inputs[0].parameters")
    if tensor.get("datatype") == "BYTES" and spec.image_shape is not None:
        return InferRequest(rid, None, _image_tensor(tensor, cfg))
    return InferRequest(rid, _rows(tensor, spec, cfg))


def _requested(value: Any, outputs: frozenset[str]) -> None:
    if value is None:
        return
    if not isinstance(value, list) or len(value) > len(outputs):
        raise bad("outputs: must be a list of requested outputs")
    for i, item in enumerate(value):
        out = _check_keys(item, frozenset({"name", "parameters"}), f"outputs[{i}]")
        if out.get("name") not in outputs:
            raise bad(f"outputs[{i}].name: must be one of {', '.join(sorted(outputs))}")
        if "parameters" in out:
            _params(out["parameters"], f"outputs[{i}].parameters")


def _shape(tensor: dict[str, Any], spec: InputSpec, cfg: GatewayConfig) -> int:
    shape = tensor.get("shape")
    if (not isinstance(shape, list) or len(shape) != 2
            or any(type(s) is not int for s in shape)):
        raise bad(f"inputs[0].shape: must be [n, {spec.dim}]")
    n, d = shape
    if d != spec.dim:
        raise bad(f"inputs[0].shape: must be [n, {spec.dim}], got [{n}, {d}]")
    if not 1 <= n <= cfg.max_batch:
        raise bad(f"inputs[0].shape: batch size must be 1..{cfg.max_batch}", "batch-too-large",
                  413 if n > cfg.max_batch else 400)
    return int(n)


def _rows(tensor: dict[str, Any], spec: InputSpec, cfg: GatewayConfig) -> np.ndarray:
    if tensor.get("datatype") not in ("FP32", "FP64"):
        raise bad("inputs[0].datatype: must be FP32" + (
            " (or BYTES for an image)" if spec.image_shape else ""))
    n = _shape(tensor, spec, cfg)
    data = tensor.get("data")
    if not isinstance(data, list):
        raise bad("inputs[0].data: must be a list of numbers")
    flat = data
    if data and all(type(r) is list for r in data):  # nested as the shape says
        if len(data) != n or any(len(r) != spec.dim for r in data):
            raise bad(f"inputs[0].data: nested data must be {n} rows of {spec.dim}")
        flat = [v for r in data for v in r]
    if len(flat) != n * spec.dim:
        raise bad(f"inputs[0].data: {len(flat)} values for shape [{n}, {spec.dim}]")
    if not set(map(type, flat)) <= NUMBER:
        raise bad("inputs[0].data: every element must be a number")
    try:
        x = np.asarray(flat, dtype=np.float64).reshape(n, spec.dim)
    except (OverflowError, ValueError):
        raise bad("inputs[0].data: a number is out of range") from None
    if not np.isfinite(x).all():
        raise bad("inputs[0].data: NaN and infinite values are not allowed")
    if x.min() < spec.lo or x.max() > spec.hi:
        raise bad(f"inputs[0].data: values must lie in [{spec.lo:g}, {spec.hi:g}]",
                  "out-of-range")
    return x.astype(np.float32)


def _image_tensor(tensor: dict[str, Any], cfg: GatewayConfig) -> bytes:
    data = tensor.get("data")
    if tensor.get("shape") != [1] or not isinstance(data, list) or len(data) != 1 \
            or not isinstance(data[0], str):
        raise bad("inputs[0]: a BYTES input is shape [1] with one base64 string")
    try:
        raw = base64.b64decode(data[0], validate=True)
    except (binascii.Error, ValueError):
        raise bad("inputs[0].data: not valid base64") from None
    if len(raw) > cfg.max_body_bytes:
        raise bad("inputs[0].data: image too large", "body-too-large", 413)
    return raw
