"""CP5 table: red-team findings tracked across campaigns.

One row per finding id (a model name and a rule): its status (``open``, ``remediated``,
``accepted``), the model digests where it was first and last reproduced, the digest of the
version that no longer reproduced it, the acceptance reason, and the latest finding as JSON.
Rows change in the same store transaction as the campaign's signed evidence.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table, Text

from cpmap.core.schema import metadata

redteam_findings = Table(
    "redteam_findings",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("model", String(200), nullable=False, index=True),
    Column("rule_id", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("first_digest", String(64), nullable=False),
    Column("last_digest", String(64), nullable=False),
    Column("remediated_digest", String(64), nullable=False, default=""),
    Column("first_seen", String(40), nullable=False),
    Column("last_seen", String(40), nullable=False),
    Column("campaign", String(40), nullable=False),
    Column("entry", BigInteger, nullable=False, default=-1),
    Column("reason", Text, nullable=False, default=""),
    Column("finding", Text, nullable=False),
    Column("updated_at", String(40), nullable=False),
)
