"""The store: SQLAlchemy Core over SQLite (default) or PostgreSQL.

Writes go through :meth:`Store.write`, which serializes writers across processes: SQLite takes
the database write lock up front (``BEGIN IMMEDIATE``, WAL, full sync) and PostgreSQL a
transaction-scoped advisory lock. That is what makes ledger appends atomic and totally ordered
with several processes appending at once. Reads use a separate engine with deferred
transactions so that a long verification never blocks writers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from cpmap.core.schema import (
    kv,
    ledger_checkpoints,
    ledger_entries,
    ledger_state,
    ledger_subjects,
    metadata,
)
from cpmap.errors import StoreError

__all__ = ["Store", "kv", "ledger_checkpoints", "ledger_entries", "ledger_state",
           "ledger_subjects", "metadata", "redact_url"]

_ADVISORY_LOCK = 0x63706D6170  # "cpmap"

def _load_table_modules() -> None:
    """Import the modules that define the controls' tables on ``metadata`` (each control
    declares its own in the registry) before ``create_all``, so every store has every table."""
    import importlib

    from cpmap.controls import table_modules

    for name in table_modules():
        importlib.import_module(name)


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema(schema: str | None, url: str) -> None:
    """``schema`` is a PostgreSQL schema name cpmap may create and quote (lowercase, digits,
    '_'), and the store at ``url`` is a PostgreSQL one."""
    if schema is None:
        return
    if not SCHEMA_RE.fullmatch(schema):
        raise StoreError(f"[store] schema {schema!r}: use 1..63 lowercase letters, digits and "
                         "'_', not starting with a digit")
    if url.startswith("sqlite"):
        raise StoreError(f"[store] schema {schema!r}: schemas are for PostgreSQL "
                         "(CPMAP_DATABASE_URL); a SQLite store is already one file per workspace")


def _pg_engine(url: str, schema: str | None) -> Engine:
    """A PostgreSQL engine; with ``schema``, every connection works in that schema (created
    if missing): the workspace's own namespace in a database other workspaces share."""
    engine = create_engine(url, pool_pre_ping=True)
    if schema is None:
        return engine

    @event.listens_for(engine, "connect", insert=True)
    def _search_path(dbapi_conn: Any, _record: Any) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True  # a SET inside a rolled-back transaction would not hold
        cursor = dbapi_conn.cursor()
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        cursor.execute(f'SET SESSION search_path TO "{schema}"')
        cursor.close()
        dbapi_conn.autocommit = autocommit

    return engine


class Store:
    """Connections to the workspace database; create with :meth:`open`."""

    def __init__(self, url: str, writer: Engine, reader: Engine,
                 schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self._writer = writer
        self._reader = reader
        # writers of one namespace serialize; another namespace's writers do not wait on them
        self.lock_key = _ADVISORY_LOCK if schema is None else int.from_bytes(
            hashlib.sha256(f"cpmap-store:{schema}".encode()).digest()[:7], "big")

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @property
    def where(self) -> str:
        """The store for messages: its URL without a password, and its schema if any."""
        return redact_url(self.url) + (f" (schema {self.schema})" if self.schema else "")

    @classmethod
    def open(cls, url: str, schema: str | None = None) -> Store:
        """Open (and create the tables of) the store at ``url``; ``schema``: the PostgreSQL
        schema that holds this workspace's tables (its own namespace in a shared database)."""
        check_schema(schema, url)
        try:
            if url.startswith("sqlite"):
                store = cls(url, _sqlite_engine(url, True), _sqlite_engine(url, False))
            else:
                engine = _pg_engine(url, schema)
                store = cls(url, engine, engine, schema)
            _load_table_modules()
            metadata.create_all(store._writer)
        except SQLAlchemyError as e:
            raise StoreError(f"{redact_url(url)}: cannot open store: {e.__class__.__name__}: "
                             f"{_first_line(e)}") from e
        return store

    @classmethod
    def peek(cls, url: str) -> Store:
        """The database at ``url`` in its default schema, to read only: no table is created
        (``cpmap init --schema`` looks at what the shared default schema holds)."""
        try:
            engine = (_sqlite_engine(url, False) if url.startswith("sqlite")
                      else _pg_engine(url, None))
        except SQLAlchemyError as e:
            raise StoreError(f"{redact_url(url)}: cannot open store: {_first_line(e)}") from e
        return cls(url, engine, engine)

    @classmethod
    def sqlite(cls, path: Path) -> Store:
        return cls.open(f"sqlite:///{path}")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, exclusive against every other writer of this store."""
        try:
            with self._writer.begin() as conn:
                if not self.is_sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self.lock_key})
                yield conn
        except SQLAlchemyError as e:
            raise StoreError(f"{redact_url(self.url)}: write failed: {_first_line(e)}") from e

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on both backends)."""
        try:
            with self._reader.begin() as conn:
                if not self.is_sqlite:
                    conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
                yield conn
        except SQLAlchemyError as e:
            raise StoreError(f"{redact_url(self.url)}: read failed: {_first_line(e)}") from e

    def dispose(self) -> None:
        self._writer.dispose()
        self._reader.dispose()


def _first_line(e: Exception) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else e.__class__.__name__


_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:password|passwd|pwd|pass|sslpassword|secret|token|access_token|api_?key|"
    r"apikey|key|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|"
    r"auth|authorization)=)[^&;#]*")


def redact_url(url: str) -> str:
    """Hide credentials in a URL before it is printed: the password of ``user:password@`` and
    the value of query parameters that carry one (``?password=``, ``?token=``, ``&sig=``)."""
    url = _SECRET_PARAM.sub(r"\1***", url)
    head, sep, tail = url.partition("://")
    if not sep or "@" not in tail.split("?", 1)[0]:
        return url
    creds, _, rest = tail.partition("?")[0].rpartition("@")
    query = tail[len(tail.partition("?")[0]):]
    user = creds.split(":", 1)[0]
    return f"{head}://{user}:***@{rest}{query}" if ":" in creds else url
