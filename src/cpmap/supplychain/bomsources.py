"""What goes into the ML-BOM besides Python packages: the workspace's datasets and models.

Models come from every source listed in :data:`MODEL_SOURCES` (``"module:function"``, each
``fn(ws) -> list[BomModel]``): today the CP6 registry and the model store. A new model layer adds
one line there. A source whose tables hold nothing contributes nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cpmap.core.refs import Ref
from cpmap.errors import InputError

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

MODEL_SOURCES: list[str] = [
    "cpmap.supplychain.bomsources:registry_models",
    "cpmap.supplychain.bomsources:stored_models",
]
# model-card prose fields (cpmap.registry.card.PROSE) carried into the BOM as properties
_CARD_FIELDS = ("description", "intended_use", "limitations", "out_of_scope_use",
                "ethical_considerations", "caveats", "license", "owners")


@dataclass(frozen=True)
class BomDataset:
    name: str
    version: int
    digest: str
    source: str
    license: str = ""
    supplier: str = ""
    parents: tuple[str, ...] = ()  # digests


@dataclass(frozen=True)
class BomModel:
    name: str
    version: str
    digest: str
    origin: str  # which source found it
    datasets: tuple[str, ...] = ()  # digests of training data
    properties: Mapping[str, str] = field(default_factory=dict)
    card: Mapping[str, Any] | None = None  # CycloneDX modelCard (cpmap.registry.bom)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def workspace_datasets(ws: Workspace, wanted: Sequence[str]) -> list[BomDataset]:
    """The named datasets (``name`` or ``name@N``), or the latest version of every dataset."""
    from cpmap.provenance.datasets import get_dataset, list_datasets, parents_of

    if wanted:
        versions = [get_dataset(ws, ref) for ref in wanted]
    else:
        latest = {dv.name: dv for dv in list_datasets(ws)}
        versions = [latest[n] for n in sorted(latest)]
    return [BomDataset(dv.name, dv.version, dv.digest, dv.source, dv.license, dv.supplier,
                       tuple(p for p, _ in parents_of(ws, dv.digest))) for dv in versions]


def _flatten(prefix: str, value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(_flatten(f"{prefix}.{k}", v))
        return out
    if value in (None, "", [], {}):
        return {}
    return {prefix: ", ".join(map(str, value)) if isinstance(value, list) else str(value)}


def registry_models(ws: Workspace) -> list[BomModel]:
    """CP6 registry versions, with their training datasets and model-card fields."""
    from cpmap.registry.bom import card_for
    from cpmap.registry.versions import list_versions

    out = []
    for mv in list_versions(ws):
        props = {"cpmap:artifact.formats": ", ".join(mv.artifact.formats),
                 "cpmap:artifact.bytes": str(mv.artifact.size)}
        for key in _CARD_FIELDS:
            props.update(_flatten(f"cpmap:card.{key}", mv.card.get(key)))
        out.append(BomModel(mv.name, str(mv.version), mv.digest, "registry",
                            tuple(d.digest for d in mv.lineage.datasets), props,
                            card_for(ws, mv)))
    return out


def stored_models(ws: Workspace) -> list[BomModel]:
    """Models saved through the model store (format and architecture, training datasets)."""
    from cpmap.models.store import list_models

    out = []
    for mv in list_models(ws):
        props = {"cpmap:format": mv.format, "cpmap:arch": mv.arch}
        data = mv.record.get("datasets") if isinstance(mv.record, Mapping) else None
        digests = tuple(str(d.get("digest")) for d in data or []
                        if isinstance(d, Mapping) and d.get("digest"))
        out.append(BomModel(mv.name, str(mv.version), mv.digest, "models", digests, props))
    return out


def _source(target: str) -> Callable[[Workspace], list[BomModel]] | None:
    module, _, func = target.partition(":")
    try:
        fn: Callable[[Workspace], list[BomModel]] = getattr(importlib.import_module(module),
                                                            func)
    except (ImportError, AttributeError):
        return None  # that model layer is not installed in this build
    return fn


def workspace_models(ws: Workspace, wanted: Sequence[str]) -> list[BomModel]:
    """Models of every source; only those named (``name`` or ``name@N``) when ``wanted``."""
    found: dict[tuple[str, str], BomModel] = {}
    for target in MODEL_SOURCES:
        fn = _source(target)
        for m in fn(ws) if fn else []:
            found.setdefault((m.digest, m.ref), m)
    models = sorted(found.values(), key=lambda m: (m.name, m.version, m.origin))
    if not wanted:
        return models
    out = []
    for ref in wanted:
        parsed = Ref.parse(ref, "model")
        version = parsed.selector if parsed.pinned else None
        hits = [m for m in models
                if m.name == parsed.name and (version is None or m.version == version)]
        if not hits:
            raise InputError(f"model {ref!r}: not in the registry or the model store",
                             hint="cpmap registry list")
        out += hits if version else [max(hits, key=lambda m: int(m.version)
                                         if m.version.isdigit() else 0)]
    return out
