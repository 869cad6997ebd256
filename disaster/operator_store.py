"""Operators in Postgres: accounts, sessions, API tokens, failed logins, the audit log."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from disaster.auth import hash_password, new_token, token_digest

__all__ = [
    "ROLES",
    "Operator",
    "add_operator",
    "audit",
    "create_api_token",
    "create_session",
    "delete_session",
    "failed_login_counts",
    "operator_by_username",
    "operator_for_session",
    "operator_for_token",
    "record_failed_login",
]

ROLES = ("viewer", "operator", "admin")  # each may do what the ones before it may


@dataclass(frozen=True)
class Operator:
    """Who is acting; ``csrf`` is set when they act through a browser session."""

    id: uuid.UUID
    username: str
    role: str
    csrf: str | None = None

    def may(self, role: str) -> bool:
        """Return whether this operator's role includes ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)


async def add_operator(
    conn: asyncpg.Connection, username: str, password: str, role: str
) -> Operator:
    """Create an operator (raises ``asyncpg.UniqueViolationError`` for a taken username)."""
    if role not in ROLES:
        msg = f"role must be one of {', '.join(ROLES)}"
        raise ValueError(msg)
    op = Operator(uuid.uuid4(), username, role)
    await conn.execute(
        "INSERT INTO operators (id, username, password_hash, role) VALUES ($1, $2, $3, $4)",
        op.id, username, hash_password(password), role,
    )  # fmt: skip
    return op


async def operator_by_username(
    conn: asyncpg.Connection, username: str
) -> tuple[Operator, str] | None:
    """Return an enabled operator and their password hash, or None."""
    row = await conn.fetchrow(
        "SELECT * FROM operators WHERE username = $1 AND NOT disabled", username
    )
    if row is None:
        return None
    return Operator(row["id"], row["username"], row["role"]), row["password_hash"]


async def create_session(
    conn: asyncpg.Connection, operator: Operator, lifetime: timedelta
) -> tuple[str, str]:
    """Start a browser session; return its cookie value and CSRF token."""
    token, csrf = new_token("ses_"), secrets.token_urlsafe(32)
    await conn.execute(
        """INSERT INTO operator_sessions (token_hash, operator_id, csrf_token, expires_at)
           VALUES ($1, $2, $3, $4)""",
        token_digest(token), operator.id, csrf, datetime.now(UTC) + lifetime,
    )  # fmt: skip
    return token, csrf


async def delete_session(conn: asyncpg.Connection, token: str) -> None:
    """End a session (logout)."""
    await conn.execute("DELETE FROM operator_sessions WHERE token_hash = $1", token_digest(token))


async def operator_for_session(conn: asyncpg.Connection, token: str) -> Operator | None:
    """Return the operator of a live session cookie, with its CSRF token."""
    row = await conn.fetchrow(
        """SELECT o.id, o.username, o.role, s.csrf_token FROM operator_sessions s
           JOIN operators o ON o.id = s.operator_id
           WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT o.disabled""",
        token_digest(token),
    )
    if row is None:
        return None
    return Operator(row["id"], row["username"], row["role"], row["csrf_token"])


async def create_api_token(conn: asyncpg.Connection, operator: Operator, name: str) -> str:
    """Issue an API token acting as ``operator`` (for scripts and other systems)."""
    token = new_token("op_")
    await conn.execute(
        "INSERT INTO api_tokens (token_hash, operator_id, name) VALUES ($1, $2, $3)",
        token_digest(token), operator.id, name,
    )  # fmt: skip
    return token


async def operator_for_token(conn: asyncpg.Connection, token: str) -> Operator | None:
    """Return the operator an unrevoked API token acts as."""
    row = await conn.fetchrow(
        """SELECT o.id, o.username, o.role FROM api_tokens t
           JOIN operators o ON o.id = t.operator_id
           WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT o.disabled""",
        token_digest(token),
    )
    return None if row is None else Operator(row["id"], row["username"], row["role"])


async def record_failed_login(conn: asyncpg.Connection, username: str, remote: str) -> None:
    """Count a failed login against the username and the address it came from."""
    await conn.execute(
        "INSERT INTO failed_logins (username, remote) VALUES ($1, $2)", username, remote
    )


async def failed_login_counts(
    conn: asyncpg.Connection, username: str, remote: str, window: timedelta
) -> tuple[int, int]:
    """Return the failed logins within ``window`` for this username and from this address."""
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE username = $1) AS by_user,
                  count(*) FILTER (WHERE remote = $2) AS by_remote
           FROM failed_logins WHERE at > now() - $3::interval""",
        username, remote, window,
    )  # fmt: skip
    return int(row["by_user"]), int(row["by_remote"])


async def audit(
    conn: asyncpg.Connection,
    actor: str,
    action: str,
    *,
    target: str = "",
    status: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append to the audit log: who, when (now), what, on what, with which outcome."""
    await conn.execute(
        """INSERT INTO audit_log (actor, action, target, status, details)
           VALUES ($1, $2, $3, $4, $5)""",
        actor, action, target, status, details or {},
    )  # fmt: skip
