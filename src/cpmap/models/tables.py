"""Model store tables: every saved model version and the pickle digests a user trusted."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from cpmap.core.schema import metadata

models = Table(
    "models",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False, index=True),
    Column("format", String(32), nullable=False),
    Column("arch", String(64), nullable=False),
    Column("record", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("entry", BigInteger, nullable=False),
)

trusted_pickles = Table(
    "trusted_pickles",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("note", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("entry", BigInteger, nullable=False),
)
