"""CP8's store table: the monitored prediction log, one row per request, queryable.

The Merkle leaves (CP7's ``gateway_predictions``) are canonical JSON, good for proofs and bad
for ``--since 1h --client C --ood``; these rows repeat the leaf's fields as columns, written in
the same transaction as the leaf, with the ledger batch they belong to. Clients appear only as
a keyed hash; inputs and outputs only as digests. Rows older than the retention are deleted
(the batch roots in the ledger stay).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table

from cpmap.core.schema import metadata

monitor_predictions = Table(
    "monitor_predictions",
    metadata,
    Column("batch", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("request_id", String(64), nullable=False),
    Column("ts", Float, nullable=False),
    Column("model", String(200), nullable=False),
    Column("model_digest", String(64), nullable=False),
    Column("client", String(32), nullable=True),  # keyed hash of the client id
    Column("status", Integer, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("input_digest", String(64), nullable=True),
    Column("output_digest", String(64), nullable=True),
    Column("confidence", Float, nullable=True),  # mean max-probability of the request's rows
    Column("ood", Boolean, nullable=True),  # any row flagged
    Column("ood_score", Float, nullable=True),  # largest row score / threshold
    Column("latency_ms", Float, nullable=True),
    Column("reason", String(64), nullable=True),
    Index("ix_monitor_predictions_model_ts", "model", "ts"),
)
