"""Reviewer accounts and their sessions.

Passwords are hashed with argon2id (argon2-cffi's defaults); a session token is 32 random
bytes shown once, in the cookie, and stored only as its SHA-256, next to the session's CSRF
token. Unknown users and wrong passwords take the same path (a dummy verify), so timing does
not tell which accounts exist.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select

from cpmap.errors import InputError
from cpmap.review.tables import review_sessions, review_users

if TYPE_CHECKING:
    from cpmap.core.workspace import Workspace

ROLES = ("reviewer", "admin")
SESSION_S = 8 * 3600
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("cpmap-no-such-user")


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    csrf: str


def add_user(ws: Workspace, name: str, role: str, password: str) -> None:
    """Create (or reset the password and role of) account ``name``."""
    if not _NAME.match(name):
        raise InputError(f"user {name!r}: letters, digits, '_', '.', '-' (at most 64)")
    if role not in ROLES:
        raise InputError(f"--role {role!r}: one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise InputError("password: at least 10 characters")
    digest = _HASHER.hash(password)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with ws.store.write() as conn:
        conn.execute(delete(review_users).where(review_users.c.name == name))
        conn.execute(insert(review_users).values(name=name, role=role, password_hash=digest,
                                                 created_at=now))


def list_users(ws: Workspace) -> list[dict[str, str]]:
    with ws.store.read() as conn:
        rows = conn.execute(select(review_users.c.name, review_users.c.role,
                                   review_users.c.created_at).order_by(review_users.c.name))
        return [{"name": r.name, "role": r.role, "created_at": r.created_at} for r in rows]


def check_password(ws: Workspace, name: str, password: str) -> str | None:
    """The account's role when ``password`` is right, else None."""
    with ws.store.read() as conn:
        row = conn.execute(select(review_users).where(review_users.c.name == name)).first()
    try:
        _HASHER.verify(row.password_hash if row else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    return str(row.role) if row else None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(ws: Workspace, user: str) -> tuple[str, str]:
    """A new session for ``user``: (cookie token, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with ws.store.write() as conn:
        conn.execute(delete(review_sessions).where(review_sessions.c.expires < time.time()))
        conn.execute(insert(review_sessions).values(token_hash=_hash(token), user=user,
                                                    csrf=csrf, expires=time.time() + SESSION_S))
    return token, csrf


def session(ws: Workspace, token: str | None) -> Session | None:
    if not token:
        return None
    with ws.store.read() as conn:
        row = conn.execute(select(review_sessions, review_users.c.role).join(
            review_users, review_users.c.name == review_sessions.c.user).where(
            review_sessions.c.token_hash == _hash(token))).first()
    if row is None or row.expires < time.time():
        return None
    return Session(str(row.user), str(row.role), str(row.csrf))


def close_session(ws: Workspace, token: str) -> None:
    with ws.store.write() as conn:
        conn.execute(delete(review_sessions).where(review_sessions.c.token_hash == _hash(token)))


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens."""
    return secrets.compare_digest(a.encode(), b.encode())
