"""The review queue's store tables: accounts, sessions, items and decisions.

Passwords are stored only as argon2id hashes and session tokens only as SHA-256 digests, so a
copy of the store gives no one a login. An item's ``claimed_by``/``claimed_at`` is the row lock
two reviewers race for (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional UPDATE on
SQLite).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table, Text

from cpmap.core.schema import metadata

review_users = Table(
    "review_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)

review_sessions = Table(
    "review_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("expires", Float, nullable=False),
)

review_items = Table(
    "review_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),  # where it came from, once
    Column("model", String(200), nullable=False, index=True),
    Column("source", String(40), nullable=False),  # "predlog" | "golden" | "manual"
    Column("input_kind", String(16), nullable=False),  # "image" | "row" | "none"
    Column("input", Text, nullable=False),  # JSON: pixel values or the table row
    Column("shape", String(40), nullable=False),  # "8x8" for images
    Column("prediction", String(64), nullable=False),
    Column("confidence", Float, nullable=True),
    Column("flags", Text, nullable=False),  # JSON list of why it was flagged
    Column("status", String(16), nullable=False),  # "open" | "final"
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_at", Float, nullable=True),
    Column("decision", String(16), nullable=True),
    Column("label", String(64), nullable=True),
    Column("created_at", String(40), nullable=False),
)

review_decisions = Table(
    "review_decisions",
    metadata,
    Column("item", Integer, primary_key=True, autoincrement=False),
    Column("reviewer", String(64), primary_key=True),
    Column("decision", String(16), nullable=False),
    Column("label", String(64), nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("entry", BigInteger, nullable=False),
)
