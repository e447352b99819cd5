"""Whose privacy a release spends: the people at the root of the CP1 lineage, not a file name.

A privacy budget protects the individuals in a table. A redacted copy, a split, an anonymized
copy or a byte-identical copy under another name holds the same individuals, so a release from
any of them must be charged to the budget of the data they all descend from. The budget key is
therefore the CP1 *name* of every root of the dataset's lineage (a dataset with no recorded
parents is its own root; a join has several roots and is charged to each). A root digest
registered under several names is charged to the name registered first, so copying a file and
registering it again never opens a second budget.

Names that CP1 does not know are their own population: the library API keeps that for callers
that account for data cpmap never sees, but the CLI refuses a DP release from an unregistered
file unless the caller names it as a new population (``--new-population NAME``), which
registers it and is recorded in the spend's evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

MAX_DEPTH = 10_000  # lineage edges walked before giving up (a cycle needs an edited store)


@dataclass(frozen=True)
class Population:
    """The budget keys a release from one dataset is charged to."""

    names: tuple[str, ...]  # one budget per root, sorted
    roots: tuple[str, ...] = ()  # the roots' digests (empty: a name CP1 does not know)

    @property
    def key(self) -> str:
        return self.names[0]


def roots_of(conn: Connection, digest: str) -> tuple[str, ...]:
    """Digests of the lineage roots of ``digest`` (itself when it has no recorded parent)."""
    from cpmap.provenance.tables import lineage

    seen, todo, roots = {digest}, [digest], set()
    while todo and len(seen) < MAX_DEPTH:
        child = todo.pop()
        parents = [str(r[0]) for r in conn.execute(
            select(lineage.c.parent).where(lineage.c.child == child)).all()]
        if not parents:
            roots.add(child)
        todo += [p for p in parents if p not in seen]
        seen.update(parents)
    return tuple(sorted(roots))


def _first_name(conn: Connection, digest: str) -> str | None:
    from cpmap.provenance.tables import datasets

    row = conn.execute(select(datasets.c.name).where(datasets.c.digest == digest)
                       .order_by(datasets.c.entry).limit(1)).first()
    return None if row is None else str(row[0])


def _digest_of(conn: Connection, name: str, version: str) -> str | None:
    from cpmap.provenance.tables import datasets

    q = select(datasets.c.digest).where(datasets.c.name == name)
    if version:
        q = q.where(datasets.c.version == int(version))
    row = conn.execute(q.order_by(datasets.c.version.desc()).limit(1)).first()
    return None if row is None else str(row[0])


def resolve(conn: Connection, dataset: str, digest: str | None = None) -> Population:
    """The population of ``dataset`` (``name`` or ``name@N``), or of ``digest`` when given."""
    name, sep, version = dataset.rpartition("@")
    if not (sep and name and version.isdigit()):
        name, version = dataset, ""
    known = digest if digest and _first_name(conn, digest) is not None else None
    start = known or _digest_of(conn, name, version)
    if start is None:
        return Population((name,))
    roots = roots_of(conn, start)
    names = {_first_name(conn, r) or f"sha256:{r[:16]}" for r in roots}
    return Population(tuple(sorted(names)), roots)


@dataclass(frozen=True)
class Source:
    """The registered dataset a DP release is computed from."""

    path: Path
    ref: str
    digest: str
    new_population: bool = False  # registered by this release, as named by the caller


def release_source(ws: Workspace, data: str | Path, new_population: str | None,
                   purpose: str) -> Source:
    """The CP1 dataset behind ``data`` (a file or ``name@version``), verified, access recorded.

    An unregistered file is refused unless ``new_population`` names it: then it is registered
    under that name (a new version of it, sharing its budget, when the name exists) and the
    release's evidence says so. A file name never becomes a budget key by itself.
    """
    from cpmap.errors import InputError
    from cpmap.provenance.datasets import find_by_digest, open_dataset, register_dataset
    from cpmap.provenance.fingerprint import fingerprint

    path = Path(data)
    if not path.is_file():
        if new_population:
            raise InputError(f"--new-population {new_population}: only for a file "
                             f"({data} is a dataset reference or no file)")
        dv = open_dataset(str(data), ws, purpose=purpose)
        return Source(Path(dv.path), dv.ref, dv.digest)
    found = find_by_digest(ws, fingerprint(path).digest)
    if found is not None:
        dv = open_dataset(found.ref, ws, purpose=purpose)
        return Source(path, dv.ref, dv.digest)
    if not new_population:
        raise InputError(
            f"{path}: not a registered dataset: a DP release is charged to the people in it, "
            "found through its CP1 lineage", hint="register it with `cpmap data register` "
            "(or derive it through a recorded transform); if it holds people no registered "
            "dataset holds, pass --new-population NAME (recorded)")
    dv = register_dataset(ws, new_population, path)
    return Source(path, dv.ref, dv.digest, new_population=True)
