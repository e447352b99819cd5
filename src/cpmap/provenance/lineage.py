"""Lineage: recorded transformations from input dataset versions to output versions.

::

    with cpmap.transform("dedupe", inputs=["customers"]) as t:
        clean = dedupe(t.inputs[0].path)
        t.output(clean, name="customers-clean")

Each output is registered as a new dataset version whose parents are the input digests, and the
transformation itself (inputs, outputs, parameters, duration) is a CP1 ledger entry. Nothing is
recorded when the block raises.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpmap.core.evidence import Evidence, Subject, Verdict, record
from cpmap.core.workspace import Workspace, open_workspace
from cpmap.errors import InputError
from cpmap.provenance.datasets import (
    DatasetVersion,
    find_by_digest,
    get_dataset,
    open_dataset,
    parents_of,
    register_dataset,
)
from cpmap.provenance.fingerprint import fingerprint
from cpmap.provenance.predicates import DataTransform


@dataclass
class Transform:
    name: str
    ws: Workspace
    inputs: list[DatasetVersion]
    params: Mapping[str, Any]
    outputs: list[DatasetVersion] = field(default_factory=list)

    def output(self, path: Path | str, name: str, *, license: str = "") -> DatasetVersion:
        """Register ``path`` as a new version of ``name`` derived from the inputs."""
        dv = register_dataset(self.ws, name, Path(path), transform=self.name,
                              parents=[i.digest for i in self.inputs], license=license)
        self.outputs.append(dv)
        return dv


def _resolve(ws: Workspace, item: DatasetVersion | str | Path, purpose: str) -> DatasetVersion:
    if isinstance(item, DatasetVersion):
        return open_dataset(item.ref, ws, purpose=purpose)
    if isinstance(item, Path):
        fp = fingerprint(item)
        found = find_by_digest(ws, fp.digest)
        if found is None:
            raise InputError(f"{item}: not a registered dataset version",
                             hint="register it first with `cpmap data register`")
        return open_dataset(found.ref, ws, purpose=purpose)
    return open_dataset(item, ws, purpose=purpose)


@contextmanager
def transform(name: str, inputs: Sequence[DatasetVersion | str | Path],
              ws: Workspace | None = None, params: Mapping[str, Any] | None = None
              ) -> Iterator[Transform]:
    """Record a transformation of registered datasets into new dataset versions."""
    ws = ws or open_workspace()
    resolved = [_resolve(ws, i, f"transform:{name}") for i in inputs]
    t = Transform(name, ws, resolved, dict(params or {}))
    start = time.perf_counter()
    yield t
    if not t.outputs:
        return
    subjects = [Subject(o.ref, o.digest) for o in t.outputs]
    subjects += [Subject(i.ref, i.digest) for i in resolved]
    step = DataTransform(
        verdict=Verdict.PASS, input_count=len(resolved), output_count=len(t.outputs),
        seconds=round(time.perf_counter() - start, 3), transform=name, params=dict(t.params),
        inputs=tuple({"ref": i.ref, "sha256": i.digest} for i in resolved),
        outputs=tuple({"ref": o.ref, "sha256": o.digest} for o in t.outputs),
        highlights=(f"{name}: {', '.join(i.ref for i in resolved)} -> "
                    f"{', '.join(o.ref for o in t.outputs)}",))
    record(Evidence.of(step, subjects), ws)


@dataclass(frozen=True)
class LineageNode:
    digest: str
    dataset: DatasetVersion | None
    transform: str
    parents: tuple[LineageNode, ...]

    def to_dict(self) -> dict[str, Any]:
        d = self.dataset
        return {"digest": self.digest, "ref": d.ref if d else None,
                "source": d.source if d else None, "transform": self.transform,
                "parents": [p.to_dict() for p in self.parents]}


def lineage_of(ws: Workspace, ref: str) -> LineageNode:
    """The lineage tree of a dataset version, from it back to its sources."""
    dv = get_dataset(ws, ref)
    return _node(ws, dv.digest, dv, set())


def _node(ws: Workspace, digest: str, dv: DatasetVersion | None, seen: set[str]) -> LineageNode:
    edges = parents_of(ws, digest)
    via = edges[0][1] if edges else ""
    if digest in seen:  # a cycle cannot be built through the API; guard against edited stores
        return LineageNode(digest, dv, via, ())
    seen = seen | {digest}
    parents = tuple(_node(ws, p, find_by_digest(ws, p), seen) for p, _t in edges)
    return LineageNode(digest, dv, via, parents)
