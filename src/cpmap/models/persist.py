"""Safe persistence: safetensors + architecture spec for torch, skops for scikit-learn.

Loading never unpickles a file nobody trusted. The format is recognised from the bytes (not
the file name), and the digest checked against the trust list is the digest of exactly the
bytes that are then loaded, so a file swapped between check and load cannot slip through.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.errors import InputError, TrustError
from cpmap.models import trust
from cpmap.models.adapters import OnnxModel, SklearnModel, TorchModel
from cpmap.models.archs import ArchSpec, build
from cpmap.models.protocol import Model

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

CPMAP_KEY = "cpmap"  # {"spec": ArchSpec, "meta": classes, preprocessing...}
PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth", ".bin", ".ckpt",
                             ".sav", ".dill", ".model"})
MAX_HEADER = 100 << 20


class UntrustedTypes(TrustError):
    """A skops file holds types the user has not reviewed and trusted."""

    def __init__(self, where: str, types: list[str]) -> None:
        self.types = types
        flags = " ".join(f"--trust-type {t}" for t in types)
        super().__init__(f"{where}: skops file holds types not trusted by default: "
                         f"{', '.join(types)}", hint=f"review them, then pass {flags}")


def model_bytes(model: Model) -> tuple[bytes, str, dict[str, Any]]:
    """Serialize ``model`` safely: (bytes, format, extra record fields)."""
    if isinstance(model, TorchModel):
        model.spec.check(f"model {model.spec.arch}")
        return _torch_bytes(model), "safetensors", {"arch": model.spec.arch,
                                                    "spec": json.loads(model.spec.to_json())}
    if isinstance(model, SklearnModel):
        import skops.io as sio

        data = sio.dumps(model.estimator)
        untrusted = [str(t) for t in sio.get_untrusted_types(data=data)]
        return data, "skops", {"arch": type(model.estimator).__name__,
                               "untrusted_types": untrusted}
    raise InputError(f"{model.kind} model: only torch and scikit-learn models can be saved")


def _torch_bytes(model: TorchModel) -> bytes:
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    # One metadata key: safetensors keeps metadata in a hash map whose order varies between
    # runs, and the same weights must always give the same bytes (the model's digest).
    blob = json.dumps({"spec": json.loads(model.spec.to_json()), "meta": model.meta},
                      sort_keys=True, default=str)
    out: bytes = save(tensors, metadata={CPMAP_KEY: blob})
    return out


def save_file(model: Model, path: Path) -> str:
    """Write ``model`` to ``path`` in its safe format; return the file's SHA-256."""
    from cpmap.core.workspace import atomic_write

    data, _fmt, _extra = model_bytes(model)
    try:
        atomic_write(path, data)
    except OSError as e:
        raise InputError(f"{path}: cannot write: {e.strerror}") from e
    return hashlib.sha256(data).hexdigest()


def detect_format(data: bytes, suffix: str = "") -> str:
    """``safetensors``, ``skops``, ``onnx``, ``torch-pickle``, ``pickle`` or ``unknown``."""
    if len(data) >= 10 and data[8:9] == b"{":
        n = struct.unpack("<Q", data[:8])[0]
        if 0 < n <= min(MAX_HEADER, len(data) - 8):
            return "safetensors"
    if data[:4] == b"PK\x03\x04":
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            return "unknown"
        if "schema.json" in names:
            return "skops"
        if any(n.endswith("data.pkl") for n in names):
            return "torch-pickle"
        return "unknown"
    if suffix == ".onnx":
        return "onnx"
    if data[:1] == b"\x80" or suffix in PICKLE_SUFFIXES:
        return "pickle"
    return "unknown"


def safetensors_metadata(data: bytes, where: str) -> dict[str, str]:
    n = struct.unpack("<Q", data[:8])[0]
    try:
        header = json.loads(data[8:8 + n])
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{where}: corrupt safetensors header") from e
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return {str(k): str(v) for k, v in (meta or {}).items()}


def load_bytes(data: bytes, where: str, *, suffix: str = "", ws: Workspace | None = None,
               trusted_types: Iterable[str] = (), spec_json: str | None = None,
               meta: dict[str, Any] | None = None, path: Path | None = None) -> Model:
    """Load a model from bytes in a safe format, or a pickle whose digest is trusted."""
    fmt = detect_format(data, suffix)
    if fmt == "safetensors":
        return _load_safetensors(data, where, spec_json, meta)
    if fmt == "skops":
        return SklearnModel(_load_skops(data, where, trusted_types), meta=dict(meta or {}))
    if fmt == "onnx":
        return _load_onnx(data, where)
    if fmt in ("pickle", "torch-pickle"):
        digest = hashlib.sha256(data).hexdigest()
        if digest not in trust.trusted_digests(ws):
            raise trust.refuse(path or Path(where), digest, ws)
        return _unsafe_load_trusted_pickle(data, fmt, suffix, where, meta)
    raise InputError(f"{where}: not a model file cpmap can load "
                     "(safetensors, skops, ONNX, or a trusted pickle)")


def _load_safetensors(data: bytes, where: str, spec_json: str | None,
                      meta: dict[str, Any] | None) -> TorchModel:
    from safetensors.torch import load

    try:
        embedded = json.loads(safetensors_metadata(data, where).get(CPMAP_KEY) or "{}")
        if not isinstance(embedded, dict):
            raise TypeError("not an object")
        text = spec_json or (json.dumps(embedded["spec"]) if "spec" in embedded else None)
        info = dict(meta or embedded.get("meta") or {})
    except (ValueError, TypeError) as e:
        raise InputError(f"{where}: corrupt cpmap metadata in the safetensors header") from e
    if not text:
        raise InputError(f"{where}: no architecture spec in the file or beside it",
                         hint="give a JSON spec file NAME.json next to the weights")
    spec = ArchSpec.from_json(text, where)
    try:
        state = load(data)
        if spec.arch == "mlp" and state and not any(k.startswith("net.") for k in state):
            state = {f"net.{k}": v for k, v in state.items()}  # a plain nn.Sequential's keys
        net = build(spec)
        net.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError) as e:
        raise InputError(f"{where}: weights do not match the {spec.arch} spec: "
                         f"{str(e).splitlines()[0]}") from e
    net.eval()
    return TorchModel(net, spec, meta=info)


def _load_skops(data: bytes, where: str, trusted_types: Iterable[str]) -> Any:
    import skops.io as sio

    try:
        untrusted = [str(t) for t in sio.get_untrusted_types(data=data)]
    except Exception as e:  # noqa: BLE001 - skops raises many types on corrupt archives
        raise InputError(f"{where}: corrupt skops file: {type(e).__name__}") from e
    allowed = set(trusted_types)
    unknown = [t for t in untrusted if t not in allowed]
    if unknown:
        raise UntrustedTypes(where, unknown)
    try:
        return sio.loads(data, trusted=untrusted)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{where}: cannot load skops file: {e}") from e


def _load_onnx(data: bytes, where: str) -> OnnxModel:
    try:
        import onnxruntime  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError as e:
        raise InputError(f"{where}: ONNX models need onnxruntime",
                         hint="pip install onnxruntime") from e
    from cpmap.models.adapters import scores

    try:
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        dim = int(session.get_inputs()[0].shape[1])
        outs = session.run(None, {session.get_inputs()[0].name: np.zeros((1, dim),
                                                                         np.float32)})
        index = _score_output(outs)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{where}: cannot load ONNX model: {e}") from e
    if index is None:
        raise InputError(f"{where}: no ONNX output holds class scores [n, classes]",
                         hint="export the classifier with its probabilities output")
    rows = scores(outs[index])
    looks_like_probs = bool(np.all(rows >= 0) and np.allclose(rows.sum(axis=1), 1, atol=1e-4))
    return OnnxModel(session, int(rows.shape[1]), (dim,), outputs_logits=not looks_like_probs,
                     output=index)


def _score_output(outputs: list[Any]) -> int | None:
    """The first output that is scores per class (a skl2onnx classifier answers the label
    first, then probabilities, as a tensor or a ZipMap)."""
    from cpmap.models.adapters import scores

    for i, out in enumerate(outputs):
        try:
            rows = scores(out)
        except (TypeError, ValueError):
            continue
        if rows.ndim == 2 and rows.shape[1] >= 2 and rows.dtype.kind == "f":
            return i
    return None


class UnsafeLoadWarning(UserWarning):
    """A pickle was unpickled because the user trusted its digest."""


def _unsafe_load_trusted_pickle(data: bytes, fmt: str, suffix: str, where: str,
                                meta: dict[str, Any] | None) -> Model:
    """Unpickle bytes whose SHA-256 the user explicitly trusted (checked by the caller)."""
    import pickle  # noqa: S403 - only reached for a digest the user trusted
    import warnings

    warnings.warn(f"{where}: unpickling a trusted pickle (sha256 on the trust list); convert "
                  "it to safetensors or skops", UnsafeLoadWarning, stacklevel=3)

    if fmt == "torch-pickle":
        import torch

        obj = torch.load(io.BytesIO(data), weights_only=False)  # nosec: reviewed
    elif suffix == ".joblib":
        import joblib  # type: ignore[import-untyped]

        obj = joblib.load(io.BytesIO(data))  # nosec: reviewed
    else:
        obj = pickle.loads(data)  # noqa: S301 # nosec: reviewed
    return wrap(obj, where, kind="pickle", meta=meta)


def wrap(obj: Any, where: str, kind: str = "torch", meta: dict[str, Any] | None = None) -> Model:
    """Give a live torch module or fitted estimator the Model contract."""
    import torch

    if isinstance(obj, torch.nn.Module):
        dim = _input_dim(obj, where)
        obj.eval()
        with torch.no_grad():
            n_classes = int(obj(torch.zeros(1, dim)).shape[1])
        spec = ArchSpec("module", dim, n_classes, hidden=())
        return TorchModel(obj, spec, kind=kind, meta=dict(meta or {}))
    if hasattr(obj, "predict_proba"):
        return SklearnModel(obj, kind="sklearn" if kind == "torch" else kind,
                            meta=dict(meta or {}))
    raise InputError(f"{where}: holds a {type(obj).__name__}, not a classifier")


def _input_dim(module: Any, where: str) -> int:
    import torch

    for m in module.modules():
        if isinstance(m, torch.nn.Linear):
            return int(m.in_features)
    raise InputError(f"{where}: cannot tell the input size of this module (no Linear layer)")


def load_file(path: Path, ws: Workspace | None = None,
              trusted_types: Iterable[str] = ()) -> Model:
    """Load a model file; a spec may sit beside safetensors weights as ``NAME.json``."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from e
    spec_json = None
    side = path.with_suffix(".json")
    if path.suffix == ".safetensors" and side.is_file():
        spec_json = side.read_text()
    return load_bytes(data, str(path), suffix=path.suffix.lower(), ws=ws,
                      trusted_types=trusted_types, spec_json=spec_json, path=path)
