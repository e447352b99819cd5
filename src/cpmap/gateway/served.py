"""The version a gateway serves: verified, gated, loaded safely, described for validation.

:func:`load` refuses before any port opens: the signed manifest must verify (the registry does
that on every load), the stored artifact must hash to the version's digest, and the gate must
pass for the version (unless ``allow_ungated``, which is recorded). The model itself goes
through the model layer's safe loader (safetensors, skops, ONNX; a pickle only when its digest
is trusted), from exactly the bytes that were hashed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cpmap.errors import Error
from cpmap.gateway.errors import GatewayError, ServeRefused

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.gate.evaluate import GateResult
    from cpmap.gateway.table import TableSpec
    from cpmap.models.protocol import Model
    from cpmap.registry.manifest import ModelVersion

INPUT_NAME = "input"


@dataclass(frozen=True)
class InputSpec:
    """What the infer route accepts: one FP32 tensor ``[n, dim]``, values within ``lo..hi``;
    or, for a table model (``table``), one input per named column (:mod:`~cpmap.gateway.table`),
    turned into the same ``[n, dim]`` rows."""

    name: str
    dim: int
    lo: float
    hi: float
    bounds: tuple[float, float]  # the training range itself (images are scaled into it)
    image_shape: tuple[int, int, int] | None  # (channels, height, width) for image models
    table: TableSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": "FP32", "shape": [-1, self.dim]}

    def inputs(self) -> list[dict[str, Any]]:
        """The metadata's ``inputs``: the one tensor, or every named column."""
        if self.table is not None:
            return [c.to_dict() for c in self.table.columns]
        return [self.to_dict()]


@dataclass
class Served:
    """A loaded version: the model, its input spec, and what is needed to re-check it."""

    name: str
    version: int
    digest: str
    model: Model
    spec: InputSpec
    classes: tuple[str, ...]
    gate_passed: bool
    reasons: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def predict(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.asarray(self.model.predict_proba(x), dtype=np.float64)
        return out


def parse_ref(ref: str) -> str:
    """``NAME[@VERSION|:ALIAS]`` -> the registry's ``NAME@SELECTOR`` (default: production)."""
    from cpmap.core.refs import Ref

    parsed = Ref.parse(ref, aliases=True)
    if parsed.version is None and parsed.alias is None:  # NAME serves production; NAME@latest
        return f"{parsed.name}@{'latest' if '@' in ref else 'production'}"
    return str(parsed)


def artifact_bytes(ws: Workspace, mv: ModelVersion) -> bytes:
    """The version's model file, re-hashed against the signed digest."""
    from cpmap.registry.artifact import check_objects

    if mv.artifact.kind != "file":
        raise GatewayError(f"{mv.ref}: the gateway serves single-file models "
                           "(safetensors, skops, ONNX); this version is a directory")
    problems = check_objects(ws, mv.artifact)
    path = ws.objects_dir / "sha256" / mv.artifact.files[0].sha256
    data = b"" if problems else path.read_bytes()
    if problems or hashlib.sha256(data).hexdigest() != mv.digest:
        raise ServeRefused(f"{mv.ref}: stored artifact does not match its signed digest",
                           tuple(problems) or ("digest mismatch",))
    return data


def describe(model: Model, ref: str, margin: float,
             schema: dict[str, Any] | None = None) -> tuple[InputSpec, tuple[str, ...]]:
    """The input contract from the model's metadata (training bounds widened by ``margin``);
    named, typed columns when the version carries a registered feature ``schema``."""
    meta = dict(getattr(model, "meta", {}) or {})
    if schema is not None:
        from cpmap.gateway.table import from_schema

        table = from_schema(schema, margin)
        if table.width != int(model.input_shape[0]):
            raise GatewayError(f"{ref}: the feature schema gives {table.width} inputs, the "
                               f"model takes {model.input_shape[0]}")
        classes = tuple(str(c) for c in meta.get("classes") or range(model.n_classes))
        return InputSpec(INPUT_NAME, table.width, -margin, 1.0 + margin, (0.0, 1.0), None,
                         table), classes
    dim = int(model.input_shape[0])
    lo, hi = (float(b) for b in (meta.get("bounds") or (0.0, 1.0)))
    span = (hi - lo) * margin
    shape = meta.get("image_shape")
    image = tuple(int(s) for s in shape) if shape and len(shape) == 3 else None
    if image is not None and image[0] * image[1] * image[2] != dim:
        raise GatewayError(f"{ref}: image_shape {image} does not match {dim} inputs")
    classes = tuple(str(c) for c in meta.get("classes") or range(model.n_classes))
    spec = InputSpec(INPUT_NAME, dim, lo - span, hi + span, (lo, hi), image)  # type: ignore[arg-type]
    return spec, classes


def load(ws: Workspace, ref: str, *, allow_ungated: bool = False,
         margin: float = 0.1) -> Served:
    """Verify, gate and load ``ref``; refuse (exit 1, with reasons) unless allowed."""
    from cpmap.gate.evaluate import evaluate
    from cpmap.registry.versions import get

    mv = get(ws, parse_ref(ref))  # the signed manifest is verified here
    data = artifact_bytes(ws, mv)
    result: GateResult = evaluate(ws, mv)
    reasons = tuple(f"{c.control} {c.status}: {r}" for c in result.failing() for r in c.reasons)
    if not result.passed and not allow_ungated:
        raise ServeRefused(f"{mv.ref}: the gate fails; not serving it", reasons,
                           hint=f"cpmap gate {mv.ref}")
    model = load_model(ws, mv, data)
    spec, classes = describe(model, mv.ref, margin, own_schema(mv))
    return Served(mv.name, mv.version, mv.digest, model, spec, classes, result.passed, reasons)


def own_schema(mv: ModelVersion) -> dict[str, Any] | None:
    """The registered feature schema of a user's own model (``registry register --data``)."""
    byo = (mv.lineage.training or {}).get("byo")
    schema = byo.get("schema") if isinstance(byo, dict) else None
    return dict(schema) if isinstance(schema, dict) and schema.get("columns") else None


def load_model(ws: Workspace, mv: ModelVersion, data: bytes) -> Model:
    """The model from exactly the verified bytes: a user's own model behind its feature
    schema (with the types its registration trusted), else through the safe loader."""
    from cpmap.models.persist import load_bytes

    byo = (mv.lineage.training or {}).get("byo")
    try:
        if isinstance(byo, dict):
            from cpmap.models.byo import load_byo

            own: Model = load_byo(data, f"model {mv.ref}", byo, ws=ws,
                                  suffix=str(byo.get("suffix", "")))
            return own
        return load_bytes(data, f"model {mv.ref}", ws=ws)
    except Error:
        raise
    except Exception as e:  # noqa: BLE001 - a loader library's own error: refuse, no traceback
        raise ServeRefused(f"{mv.ref}: the model cannot be loaded ({type(e).__name__})",
                           (str(e).splitlines()[0][:200],)) from e


def recheck(ws: Workspace, served: Served) -> None:
    """Before a reload: the stored bytes must still be the digest being served."""
    from cpmap.registry.versions import get

    artifact_bytes(ws, get(ws, served.ref))


def load_upstream(ws: Workspace, base: str, name: str, ref: str | None = None, *,
                  allow_ungated: bool = False, margin: float = 0.1,
                  timeout: float = 10.0) -> Served:
    """An OIP v2 upstream as the served model: gated like a local version when ``ref`` (or
    NAME's production stage) is registered; otherwise only with ``allow_ungated``."""
    from cpmap.errors import InputError
    from cpmap.gateway.upstream import probe_oip

    up = probe_oip(base, name, timeout)
    try:
        local = load(ws, ref or name, allow_ungated=allow_ungated, margin=margin)
    except InputError:
        if ref is not None or not allow_ungated:
            raise ServeRefused(f"{name}: not a registered version; the gateway serves only "
                               "gated versions", ("not registered",),
                               hint="register and gate it, or --unsafe-allow-ungated") from None
        digest = hashlib.sha256(f"upstream:{up.base}/v2/models/{name}".encode()).hexdigest()
        spec = InputSpec(INPUT_NAME, up.input_dim, -3.0e38, 3.0e38, (0.0, 1.0), None)
        return Served(name, 0, digest, up, spec, tuple(str(i) for i in range(up.n_classes)),
                      False, ("not a registered version (served with --unsafe-allow-ungated)",))
    if (up.input_dim, up.n_classes) != (local.spec.dim, len(local.classes)):
        raise ServeRefused(f"{base}: upstream {name} takes {up.input_dim} inputs and "
                           f"answers {up.n_classes} classes; {local.ref} takes "
                           f"{local.spec.dim} and {len(local.classes)}")
    up.meta = dict(getattr(local.model, "meta", {}) or {})
    local.model = up
    return local
