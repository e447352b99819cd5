"""The workspace: ``.cpmap/`` in a user's project, found like ``.git``.

Layout::

    .cpmap/
      cpmap.toml          policy and settings
      keys/signing.pem    Ed25519 private key, mode 0600
      keys/signing.pub    its public key (give it to auditors)
      objects/            content-addressed artifacts (sha256/<hex>)
      store.db            SQLite store, unless [store] url / CPMAP_DATABASE_URL is set
      checkpoint          latest signed ledger checkpoint, a witness against store truncation
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cpmap.core import config as cfg
from cpmap.core.keys import PublicKey, SigningKey, load_signing_key
from cpmap.core.store import Store, check_schema
from cpmap.errors import InputError, WorkspaceError

DIRNAME = ".cpmap"
_NAME_OK = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Workspace:
    """An opened workspace. Cheap to create; the store and key load on first use."""

    root: Path
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return self.root / DIRNAME

    @property
    def name(self) -> str:
        return str(cfg.get(self.config, "workspace", "name", self.root.name)) or "cpmap"

    @property
    def private_key_path(self) -> Path:
        return self.dir / "keys" / "signing.pem"

    @property
    def public_key_path(self) -> Path:
        return self.dir / "keys" / "signing.pub"

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / "checkpoint"

    @property
    def objects_dir(self) -> Path:
        return self.dir / "objects"

    def relative(self, path: Path) -> str:
        """How a path is stored: relative to the workspace root when inside it, so that a
        copied or moved workspace checks its own files, not the original's."""
        absolute = path.resolve()
        try:
            return absolute.relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(absolute)

    def absolute(self, stored: str) -> str:
        """A stored path back as an absolute one (paths stored before were absolute)."""
        return stored if Path(stored).is_absolute() else str(self.root / stored)

    def scratch(self, name: str) -> Path:
        """``.cpmap/tmp/NAME``: where tools' scratch (Hypothesis' cache, partial downloads)
        goes, so that nothing cpmap runs leaves folders in the user's project."""
        path = self.dir / "tmp" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @cached_property
    def signing_key(self) -> SigningKey:
        return load_signing_key(self.private_key_path, self.key_name)

    @property
    def public_key(self) -> PublicKey:
        return self.signing_key.public

    @property
    def key_name(self) -> str:
        """Name of the workspace key in signed notes: the ledger origin."""
        return f"cpmap.{_NAME_OK.sub('-', self.name)}"

    @property
    def database_url(self) -> str:
        url = str(cfg.get(self.config, "store", "url", "") or "")
        return url or f"sqlite:///{self.dir / 'store.db'}"

    @property
    def store_schema(self) -> str | None:
        """``[store] schema``: the PostgreSQL schema this workspace's tables live in (its own
        namespace in a shared database); None: the connection's default."""
        return str(cfg.get(self.config, "store", "schema", "") or "") or None

    @cached_property
    def store(self) -> Store:
        return Store.open(self.database_url, self.store_schema)

    def setting(self, section: str, key: str, default: Any = None) -> Any:
        return cfg.get(self.config, section, key, default)

    def put_object(self, data: bytes, digest: str) -> Path:
        """Store bytes under their sha256 digest (atomically; idempotent)."""
        path = self.objects_dir / "sha256" / digest
        if not path.exists():
            atomic_write(path, data)
        return path

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.dispose()


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def init(directory: Path, name: str | None = None, schema: str | None = None) -> Workspace:
    """Create ``directory/.cpmap`` with configuration, signing key and store; ``schema``: the
    PostgreSQL schema of this workspace's own namespace (``[store] schema``)."""
    directory = directory.resolve()
    target = directory / DIRNAME
    if target.exists():
        raise WorkspaceError(f"{target}: workspace already exists")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{directory}: cannot create directory: {e.strerror}") from e
    ws_name = _NAME_OK.sub("-", name or directory.name or "cpmap").strip("-") or "cpmap"
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=".cpmap-init-"))
    try:
        toml = cfg.default_toml(ws_name, policy_toml())
        if schema is not None:
            toml = toml.replace('\nschema = ""\n', f'\nschema = "{schema}"\n', 1)
        (staging / "cpmap.toml").write_text(toml)
        (staging / "objects").mkdir()
        ws = Workspace(directory, cfg.load(staging / "cpmap.toml"))
        check_schema(ws.store_schema, ws.database_url)  # before anything exists
        key = SigningKey.generate(ws.key_name)
        key.save(staging / "keys" / "signing.pem", staging / "keys" / "signing.pub")
        os.chmod(staging / "keys", 0o700)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    ws = open_workspace(directory)
    ws.store  # noqa: B018 - create the tables now so that init fails early on a bad URL
    return ws


def find_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds ``.cpmap/``."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / DIRNAME / "cpmap.toml").is_file():
            return candidate
    return None


def open_workspace(path: Path | str | None = None) -> Workspace:
    """Open the workspace at ``path``, ``$CPMAP_WORKSPACE``, or the nearest one upwards."""
    given = path if path is not None else os.environ.get("CPMAP_WORKSPACE") or None
    if given is not None:
        p = Path(given)
        root = p.parent if p.name == DIRNAME else p
        if not (root / DIRNAME / "cpmap.toml").is_file():
            raise WorkspaceError(f"{root}: no cpmap workspace here", hint=f"cpmap init {root}")
    else:
        found = find_root(Path.cwd())
        if found is None:
            raise WorkspaceError(
                f"{Path.cwd()}: no cpmap workspace here or in any parent directory",
                hint="run `cpmap init` or pass --workspace",
            )
        root = found
    return Workspace(root.resolve(), cfg.load(root / DIRNAME / "cpmap.toml"))


def policy_toml() -> str:
    """The gate policy's defaults, from the control registry."""
    from cpmap.gate.policy import policy_toml as render

    return render()
