"""The gateway's store table: API keys, kept as keyed hashes only (never the key)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table, Text

from cpmap.core.schema import metadata

gateway_keys = Table(
    "gateway_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("client", String(200), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False),  # HMAC-SHA256(workspace-derived key, key)
    Column("scopes", Text, nullable=False),  # JSON list
    Column("rate", String(40), nullable=False),
    Column("budget", String(40), nullable=False),  # "" = the model's default budget
    Column("output", String(40), nullable=False),  # "" = the model's default output policy
    Column("created_at", String(40), nullable=False),
    Column("revoked_at", String(40), nullable=True),
    Column("entry", BigInteger, nullable=False),
)

# The prediction log: one row per request, grouped in batches whose RFC 6962 root is one
# CP7 ledger entry (``batch``: that entry's index). Inputs and outputs only as digests.
gateway_predictions = Table(
    "gateway_predictions",
    metadata,
    Column("batch", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("entry", Text, nullable=False),  # canonical JSON, the Merkle leaf's data
)
