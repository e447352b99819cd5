"""What a model version's gate looks at: its digests and those of everything it descends from.

The model itself (its digest, and for a directory each file's digest: a model-file scan names
files), its training datasets and their recorded CP1 ancestors, the environment SBOM it was
built in, and the digests evidence may name for each of them. Each control reads the part of
the scope its evidence is about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cpmap.core.control import About
from cpmap.registry.lineage import dataset_names, dataset_parents

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace
    from cpmap.registry.manifest import ModelVersion


@dataclass(frozen=True)
class Scope:
    model: frozenset[str]
    datasets: tuple[str, ...]  # direct training data, in lineage order
    parents: dict[str, list[str]]  # CP1 lineage: child digest -> parent digests
    names: dict[str, str]  # digest -> human name
    environment: frozenset[str]

    def ancestors(self, digest: str) -> list[str]:
        """``digest`` and every recorded ancestor, nearest first."""
        out, todo = [], [digest]
        while todo:
            d = todo.pop(0)
            if d in out:
                continue
            out.append(d)
            todo.extend(self.parents.get(d, []))
        return out

    @property
    def data(self) -> frozenset[str]:
        return frozenset(a for d in self.datasets for a in self.ancestors(d))

    def about(self, part: About) -> frozenset[str]:
        """The digests a control's evidence must name to count for this version."""
        if part is About.DATA:
            return self.data
        if part is About.BUILD:
            return self.model | self.environment
        return self.model

    @property
    def everything(self) -> frozenset[str]:
        return self.model | self.data | self.environment

    def name(self, digest: str) -> str:
        return self.names.get(digest, f"sha256:{digest[:12]}")


def scope_of(ws: Workspace, mv: ModelVersion) -> Scope:
    model = {mv.digest, *(f.sha256 for f in mv.artifact.files)}
    datasets = tuple(dict.fromkeys(d.digest for d in mv.lineage.datasets))
    parents = dataset_parents(ws, datasets)
    everything = set(datasets) | {p for ps in parents.values() for p in ps}
    names = dataset_names(ws, sorted(everything))
    for d in mv.lineage.datasets:
        names.setdefault(d.digest, d.name if d.version is None else f"{d.name}@{d.version}")
    names[mv.digest] = mv.ref
    env = frozenset(mv.lineage.environment_digests)
    return Scope(frozenset(model), datasets, parents, names, env)
