"""The store's schema: the shared ``metadata`` and the ledger's own tables.

Each control's tables are defined on this ``metadata`` in its package (``tables.py``); the store
imports those modules (the control registry names them) before ``create_all``. Keeping the
schema below the store is what lets the table modules import ``metadata`` without importing
the store that imports them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("control", String(8), nullable=False, index=True),
    Column("kind", String(200), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("created_at", String(40), nullable=False),
)

ledger_subjects = Table(
    "ledger_subjects",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("digest", String(64), nullable=False, index=True),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
)

ledger_state = Table(
    "ledger_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("frontier", LargeBinary, nullable=False),
)

kv = Table(
    "kv",
    metadata,
    Column("namespace", String(64), primary_key=True),
    Column("key", String(400), primary_key=True),
    Column("value", Text, nullable=False),
)
