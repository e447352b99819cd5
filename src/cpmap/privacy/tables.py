"""CP2 tables: the privacy-budget spend log.

One row per differentially private release (a DP query, a DP synthesizer, a DP-SGD training
run). The row and the signed ledger entry that records the same spend are written in one store
transaction, so the budget can never hold a spend without its evidence or the reverse.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, String, Table, Text

from cpmap.core.schema import metadata

privacy_spends = Table(
    "privacy_spends",
    metadata,
    Column("entry", BigInteger, primary_key=True, autoincrement=False),
    Column("dataset", String(200), nullable=False, index=True),
    Column("epsilon", Float, nullable=False),
    Column("delta", Float, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("subject", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)
