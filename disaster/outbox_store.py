"""The delivery outbox in Postgres: rows to send, claimed by workers, settled with the outcome.

The primary key (alert version, resident, channel) makes a delivery happen at most once per
channel, whatever crashes: an alert replayed after a crash finds its rows already there. A row
is claimed under a lease, so a worker killed mid-send leaves rows that another worker takes
over when the lease runs out: a message may then be sent a second time, never lost; the
notification carries the alert id as its tag, so the phone shows it once. Each claim has a
token: only the lease's holder renews or settles its rows, so a worker that stalled past its
lease finds them gone rather than overwriting what their new holder did.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

__all__ = [
    "WHERE_THEY_ARE",
    "Claimed",
    "RoutedDelivery",
    "Settled",
    "claim_due",
    "enqueue",
    "extend_leases",
    "push_channel_key",
    "resend",
    "routed_pushes_in_force",
    "settle",
]

INBOX = "inbox"

#: Where a resident is, for their message: current location, else home, else work (``here``
#: with ``lat``/``lon``, null when none; ``s`` is the subscriber). Re-routing must read the
#: place exactly as the delivery worker composes from, so both use this.
WHERE_THEY_ARE = """LEFT JOIN LATERAL (
               SELECT lat, lon FROM subscriber_locations x
               WHERE x.subscriber_id = s.id AND (x.expires_at IS NULL OR x.expires_at > now())
               ORDER BY array_position(ARRAY['current', 'home', 'work'], x.kind) LIMIT 1
           ) here ON true"""


def push_channel_key(channel_id: uuid.UUID) -> str:
    """Return the delivery channel name of one push subscription."""
    return f"push:{channel_id}"


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds under lease."""

    alert_id: uuid.UUID
    subscriber_id: uuid.UUID
    channel: str
    attempts: int
    lease: uuid.UUID  # the claim's token, shared by the rows of one batch


@dataclass(frozen=True)
class Settled:
    """What became of a claimed delivery: ``delivered``, ``failed``, ``gone``, or ``pending``
    again with the time of the next attempt."""

    delivery: Claimed
    status: str
    next_attempt_at: datetime | None = None
    error: str | None = None


async def enqueue(
    conn: asyncpg.Connection,
    alert_id: uuid.UUID,
    priority: int,
    inbox: list[uuid.UUID],
    pushes: list[tuple[uuid.UUID, uuid.UUID]],
) -> int:
    """Add an alert's deliveries: every resident's inbox (delivered as it is written) and one
    pending row per push channel; rows that exist already are left alone. Residents erased in
    the meantime are skipped. Return how many rows were new.

    The rows go in in key order: the indexes on (alert, resident, ...) then grow at one place
    instead of at a random page per row (a quarter less time for a city-wide alert, measured
    by ``bench/notify/fanout.py``), and the workers later claim them in that order too, a run
    of neighbouring pages at a time.
    """
    subscribers = inbox + [s for s, _ in pushes]
    channels = [INBOX] * len(inbox) + [push_channel_key(c) for _, c in pushes]
    status = await conn.execute(
        """INSERT INTO deliveries (alert_id, subscriber_id, channel, status, priority,
                                   delivered_at)
           SELECT $1, t.subscriber_id, t.channel,
                  CASE WHEN t.channel = 'inbox' THEN 'delivered' ELSE 'pending' END, $2,
                  CASE WHEN t.channel = 'inbox' THEN now() END
           FROM unnest($3::uuid[], $4::text[]) AS t(subscriber_id, channel)
           JOIN subscribers s ON s.id = t.subscriber_id
           ORDER BY t.subscriber_id, t.channel
           ON CONFLICT (alert_id, subscriber_id, channel) DO NOTHING""",
        alert_id, priority, subscribers, channels,
    )  # fmt: skip
    count = int(status.rsplit(" ", 1)[-1])
    if count:
        await conn.execute("SELECT pg_notify('deliveries_due', $1)", str(alert_id))
    return count


async def claim_due(conn: asyncpg.Connection, limit: int, lease_s: float) -> list[Claimed]:
    """Lease up to ``limit`` due push deliveries, highest alert level first, then oldest.

    ``SKIP LOCKED`` lets several workers (and processes) claim side by side without waiting
    on one another; a level-5 alert queued behind level-3 work is claimed first.
    """
    token = uuid.uuid4()
    rows = await conn.fetch(
        """WITH due AS (
               SELECT alert_id, subscriber_id, channel FROM deliveries
               WHERE status = 'pending' AND next_attempt_at <= now()
                 AND (lease_until IS NULL OR lease_until < now())
               ORDER BY priority DESC, next_attempt_at
               LIMIT $1 FOR UPDATE SKIP LOCKED)
           UPDATE deliveries d
           SET lease_until = now() + make_interval(secs => $2), lease_token = $3,
               attempts = d.attempts + 1
           FROM due
           WHERE (d.alert_id, d.subscriber_id, d.channel)
               = (due.alert_id, due.subscriber_id, due.channel)
           RETURNING d.alert_id, d.subscriber_id, d.channel, d.attempts, d.priority""",
        limit,
        lease_s,
        token,
    )
    rows = sorted(rows, key=lambda r: -r["priority"])
    return [
        Claimed(r["alert_id"], r["subscriber_id"], r["channel"], r["attempts"], token) for r in rows
    ]


async def extend_leases(conn: asyncpg.Connection, claimed: list[Claimed], lease_s: float) -> int:
    """Keep holding deliveries still being sent (a worker's heartbeat), so a short lease can
    free a dead worker's rows quickly without a slow batch losing its own. Return how many
    are still held: fewer than claimed means another worker has taken some over."""
    status = await conn.execute(
        """UPDATE deliveries d SET lease_until = now() + make_interval(secs => $5)
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[])
                AS c(alert_id, subscriber_id, channel, lease)
           WHERE (d.alert_id, d.subscriber_id, d.channel)
               = (c.alert_id, c.subscriber_id, c.channel)
             AND d.status = 'pending' AND d.lease_token = c.lease""",
        [c.alert_id for c in claimed], [c.subscriber_id for c in claimed],
        [c.channel for c in claimed], [c.lease for c in claimed], lease_s,
    )  # fmt: skip
    return int(status.rsplit(" ", 1)[-1])


async def settle(conn: asyncpg.Connection, outcomes: list[Settled]) -> None:
    """Record the outcomes of claimed deliveries in one statement, releasing their leases; a
    row whose lease another worker holds by now keeps that worker's outcome, and a delivered
    row marked to be sent again (``resend``) is due again at once."""
    if not outcomes:
        return
    await conn.execute(
        """UPDATE deliveries d  -- SET reads the row as it was: d.resend is the old value
           SET status = CASE WHEN o.status = 'delivered' AND d.resend THEN 'pending'
                             ELSE o.status END,
               next_attempt_at = CASE WHEN o.status = 'delivered' AND d.resend THEN now()
                                      ELSE coalesce(o.next_at, d.next_attempt_at) END,
               attempts = CASE WHEN o.status = 'delivered' AND d.resend THEN 0
                               ELSE d.attempts END,
               delivered_at = CASE WHEN o.status = 'delivered' AND NOT d.resend THEN now() END,
               last_error = o.error, lease_until = NULL, lease_token = NULL, resend = false
           FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[],
                       $6::text[], $7::uuid[])
                AS o(alert_id, subscriber_id, channel, status, next_at, error, lease)
           WHERE (d.alert_id, d.subscriber_id, d.channel)
               = (o.alert_id, o.subscriber_id, o.channel) AND d.lease_token = o.lease""",
        [o.delivery.alert_id for o in outcomes],
        [o.delivery.subscriber_id for o in outcomes],
        [o.delivery.channel for o in outcomes],
        [o.status for o in outcomes],
        [o.next_attempt_at for o in outcomes],
        [o.error for o in outcomes],
        [o.delivery.lease for o in outcomes],
    )


@dataclass(frozen=True)
class RoutedDelivery:
    """A push delivered for an alert in force whose message may have given a route: who got
    it, where they are (as the delivery worker reads it) and what the route was for."""

    alert_id: uuid.UUID
    subscriber_id: uuid.UUID
    channel: str
    hazard: str
    needs: tuple[str, ...]
    lat: float
    lon: float


async def routed_pushes_in_force(
    conn: asyncpg.Connection, from_level: int, hazards: list[str]
) -> list[RoutedDelivery]:
    """Return the pushes of the alerts in force (issued, not a cancellation) that pattern C
    composes with a route (from ``from_level`` up, for a routed hazard, not about an
    incident) and that are delivered or being sent. The place is the one the delivery worker
    uses: current, else home, else work."""
    rows = await conn.fetch(
        f"""SELECT d.alert_id, d.subscriber_id, d.channel, a.hazard, s.needs, here.lat, here.lon
           FROM alerts a
           JOIN deliveries d ON d.alert_id = a.id
           JOIN subscribers s ON s.id = d.subscriber_id
           {WHERE_THEY_ARE}
           WHERE a.status = 'issued' AND a.msg_type <> 'Cancel' AND a.level >= $1
             AND a.hazard = ANY($2::text[]) AND a.incident_id IS NULL AND d.channel <> 'inbox'
             AND (d.status = 'delivered'
                  OR (d.status = 'pending' AND d.lease_token IS NOT NULL))
             AND here.lat IS NOT NULL""",  # noqa: S608 - a constant fragment, no input
        from_level, hazards,
    )  # fmt: skip
    return [RoutedDelivery(r[0], r[1], r[2], r[3], tuple(r[4]), r[5], r[6]) for r in rows]


async def resend(conn: asyncpg.Connection, deliveries: list[RoutedDelivery], why: str) -> int:
    """Send pushes again, composed anew on the picture as it is now and under the same
    notification tag (the phone replaces what it showed): a delivered one is queued again at
    once, one being sent is marked to be queued again when its worker settles it (that worker
    composed it before the change). Pushes still waiting to be sent need nothing. Return how
    many were queued or marked."""
    if not deliveries:
        return 0
    # One statement for both: a row being sent may be settled meanwhile, and then it is a
    # delivered one (the update waits for that settle and reads the row as it left it).
    status = await conn.execute(
        """UPDATE deliveries d
           SET status = 'pending',  -- a delivered row is due again; one being sent, marked
               attempts = CASE WHEN d.status = 'delivered' THEN 0 ELSE d.attempts END,
               next_attempt_at = CASE WHEN d.status = 'delivered' THEN now()
                                      ELSE d.next_attempt_at END,
               lease_until = CASE WHEN d.status = 'delivered' THEN NULL ELSE d.lease_until END,
               lease_token = CASE WHEN d.status = 'delivered' THEN NULL ELSE d.lease_token END,
               delivered_at = NULL,
               last_error = CASE WHEN d.status = 'delivered' THEN $4 ELSE d.last_error END,
               resend = d.status <> 'delivered'
           FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS c(alert_id, subscriber_id, channel)
           WHERE (d.alert_id, d.subscriber_id, d.channel)
               = (c.alert_id, c.subscriber_id, c.channel)
             AND (d.status = 'delivered'
                  OR (d.status = 'pending' AND d.lease_token IS NOT NULL))""",
        [d.alert_id for d in deliveries], [d.subscriber_id for d in deliveries],
        [d.channel for d in deliveries], why,
    )  # fmt: skip
    count = int(status.rsplit(" ", 1)[-1])
    if count:
        await conn.execute("SELECT pg_notify('deliveries_due', 'resend')")
    return count
