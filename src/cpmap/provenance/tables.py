"""CP1 tables: dataset versions, lineage edges and trusted keys."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text

from cpmap.core.schema import metadata

datasets = Table(
    "datasets",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("path", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("supplier", String(200), nullable=False, default=""),
    Column("license", String(200), nullable=False, default=""),
    Column("size_bytes", BigInteger, nullable=False),
    Column("files", Integer, nullable=False),
    Column("table_digest", String(64), nullable=False, default=""),
    Column("manifest", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("entry", BigInteger, nullable=False),
)

lineage = Table(
    "lineage",
    metadata,
    Column("child", String(64), primary_key=True),
    Column("parent", String(64), primary_key=True),
    Column("transform", String(200), nullable=False),
    Column("entry", BigInteger, nullable=False),
)

trusted_keys = Table(
    "trusted_keys",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("keyid", String(64), nullable=False, unique=True),
    Column("pem", Text, nullable=False),
    Column("added_at", String(40), nullable=False),
    Column("entry", BigInteger, nullable=False),  # the signed trust-key entry that added it
)
