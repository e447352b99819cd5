"""CP6 tables: model versions, aliases and the promotion history.

``model_versions`` is insert-only: a version's row holds its signed manifest (a DSSE envelope),
which is verified every time the version is loaded, so an edited row is caught rather than
trusted. Aliases are mutable pointers; every move is also a ledger entry, and ``model_events``
keeps the promotion/rollback history that rollback walks.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from cpmap.core.schema import metadata

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False, index=True),
    Column("manifest", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("entry", BigInteger, nullable=False),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("entry", BigInteger, nullable=False),
)

model_events = Table(
    "model_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, index=True),
    Column("stage", String(100), nullable=False),
    Column("action", String(16), nullable=False),  # promote | rollback
    Column("version", Integer, nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("entry", BigInteger, nullable=False),
)
