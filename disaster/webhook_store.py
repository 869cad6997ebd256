"""Partner webhooks in Postgres: registrations and their delivery outbox.

Kept apart from the residents' outbox: a partner is not a resident, and one slow partner must
not share a queue with a million phones.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = [
    "Webhook",
    "WebhookJob",
    "add_webhook",
    "claim_due",
    "enqueue",
    "list_webhooks",
    "remove_webhook",
    "settle",
]


@dataclass(frozen=True)
class Webhook:
    """A partner endpoint; ``secret`` signs every request to it."""

    id: uuid.UUID
    url: str
    secret: bytes
    description: str
    active: bool


@dataclass(frozen=True)
class WebhookJob:
    """A claimed delivery: which alert to which partner, and how many attempts so far."""

    alert_id: uuid.UUID
    webhook: Webhook
    attempts: int


async def add_webhook(conn: asyncpg.Connection, url: str, description: str = "") -> Webhook:
    """Register a partner endpoint with a new random secret (shown to the operator once)."""
    hook = Webhook(uuid.uuid4(), url, secrets.token_bytes(32), description, active=True)
    await conn.execute(
        "INSERT INTO webhooks (id, url, secret, description) VALUES ($1, $2, $3, $4)",
        hook.id, hook.url, hook.secret, hook.description,
    )  # fmt: skip
    return hook


async def list_webhooks(conn: asyncpg.Connection) -> list[Webhook]:
    """Return every registered webhook."""
    rows = await conn.fetch("SELECT * FROM webhooks ORDER BY created_at")
    return [_hook(r) for r in rows]


async def remove_webhook(conn: asyncpg.Connection, hook_id: uuid.UUID) -> bool:
    """Delete a webhook and its pending deliveries; return False if unknown."""
    return await conn.execute("DELETE FROM webhooks WHERE id = $1", hook_id) != "DELETE 0"


async def enqueue(conn: asyncpg.Connection, alert_id: uuid.UUID, priority: int) -> int:
    """Queue an alert for every active webhook (once per pair); return how many were new."""
    status = await conn.execute(
        """INSERT INTO webhook_deliveries (alert_id, webhook_id, priority)
           SELECT $1, id, $2 FROM webhooks WHERE active
           ON CONFLICT DO NOTHING""",
        alert_id,
        priority,
    )
    count = int(status.rsplit(" ", 1)[-1])
    if count:
        await conn.execute("SELECT pg_notify('webhooks_due', $1)", str(alert_id))
    return count


async def claim_due(conn: asyncpg.Connection, limit: int, lease_s: float) -> list[WebhookJob]:
    """Lease due deliveries, highest level first (see ``outbox_store.claim_due``)."""
    rows = await conn.fetch(
        """WITH due AS (
               SELECT alert_id, webhook_id FROM webhook_deliveries
               WHERE status = 'pending' AND next_attempt_at <= now()
                 AND (lease_until IS NULL OR lease_until < now())
               ORDER BY priority DESC, next_attempt_at
               LIMIT $1 FOR UPDATE SKIP LOCKED)
           UPDATE webhook_deliveries d
           SET lease_until = now() + make_interval(secs => $2), attempts = d.attempts + 1
           FROM due, webhooks w
           WHERE (d.alert_id, d.webhook_id) = (due.alert_id, due.webhook_id)
             AND w.id = d.webhook_id
           RETURNING d.alert_id, d.attempts, d.priority, w.*""",
        limit,
        lease_s,
    )
    rows = sorted(rows, key=lambda r: -r["priority"])
    return [WebhookJob(r["alert_id"], _hook(r), r["attempts"]) for r in rows]


async def settle(
    conn: asyncpg.Connection,
    job: WebhookJob,
    status: str,
    *,
    next_attempt_at: datetime | None = None,
    error: str | None = None,
) -> None:
    """Record what became of a claimed delivery and release its lease."""
    await conn.execute(
        """UPDATE webhook_deliveries
           SET status = $3, next_attempt_at = coalesce($4, next_attempt_at), last_error = $5,
               lease_until = NULL, delivered_at = CASE WHEN $3 = 'delivered' THEN now() END
           WHERE alert_id = $1 AND webhook_id = $2""",
        job.alert_id, job.webhook.id, status, next_attempt_at, error,
    )  # fmt: skip


def _hook(row: asyncpg.Record) -> Webhook:
    return Webhook(row["id"], row["url"], bytes(row["secret"]), row["description"], row["active"])
