"""CP10's store tables: triggers (the idempotence keys), runs and canary rollouts.

They are caches of what the ledger signs (every trigger, run and rollout step is an entry);
the unique trigger key is what makes "one run per trigger" hold across workers.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, String, Table, Text

from cpmap.core.schema import metadata

retrain_triggers = Table(
    "retrain_triggers",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("model", String(200), nullable=False, index=True),
    Column("trigger", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("run_id", String(40), nullable=True),
    Column("entry", BigInteger, nullable=False),
)

retrain_runs = Table(
    "retrain_runs",
    metadata,
    Column("run_id", String(40), primary_key=True),
    Column("model", String(200), nullable=False, index=True),
    Column("trigger_key", String(200), nullable=False),
    Column("status", String(40), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40), nullable=True),
    Column("summary", Text, nullable=False),  # JSON
)

retrain_rollouts = Table(
    "retrain_rollouts",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("candidate", BigInteger, nullable=False),
    Column("production", BigInteger, nullable=False),
    Column("share", Float, nullable=False),
    Column("status", String(20), nullable=False),  # "canary" | "promoted" | "rolled-back" | ...
    Column("started_at", String(40), nullable=False),
    Column("stats", Text, nullable=False),  # JSON: per arm counts, sums, latencies
    Column("entry", BigInteger, nullable=False),
)
