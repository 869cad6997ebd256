"""Delivery workers: claim due push deliveries from the outbox, send them, settle the outcome.

A worker claims a batch under a lease (highest level first), composes each resident's own
message, encrypts and sends them concurrently (the sender bounds concurrency per push service
and overall, so one hanging service does not hold up the rest), and records every outcome in
one statement. Retries back off exponentially (or as ``Retry-After`` says); an endpoint its
push service calls gone is disabled. Workers in several processes share the outbox safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg
from aiokafka import AIOKafkaProducer

from disaster import outbox_store, resident_store, store, topics
from disaster._kafka import encode_json
from disaster.domain import Alert, GeoPoint
from disaster.outbox_store import Claimed, Settled
from notify.webpush import (
    InvalidSubscriptionError,
    Outcome,
    PushResult,
    Subscription,
    WebPushSender,
    message_for_alert,
)

__all__ = ["Composer", "DeliveryWorker", "Recipient", "backoff_s"]

_log = logging.getLogger(__name__)

#: How long a push service keeps an undelivered alert for a phone that is off.
PUSH_TTL_S = 6 * 3600


@dataclass(frozen=True)
class Recipient:
    """What composing a resident's message may use: never more than this. ``location`` is
    where they are now if known, else home, else work."""

    subscriber_id: uuid.UUID
    language: str
    needs: tuple[str, ...]
    location: GeoPoint | None = None


class Composer(Protocol):
    """Makes each resident's payload; ``prepare`` runs once per batch (catching up the router,
    say) and its result is handed to every ``compose`` of that batch."""

    async def prepare(self, alerts: list[Alert]) -> Any: ...

    def compose(self, alert: Alert, recipient: Recipient, prepared: Any) -> bytes: ...


def backoff_s(attempts: int, retry_after_s: float | None = None) -> float:
    """Return the wait before the next attempt: what the push service asked for, else
    exponential from 2 s to 10 minutes, with jitter so retries do not arrive in waves."""
    if retry_after_s is not None:
        return min(max(retry_after_s, 1.0), 3600.0)
    return min(2.0**attempts, 600.0) * random.uniform(0.8, 1.2)


class DeliveryWorker:
    """One loop claiming and sending; run several per process and in several processes."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        sender: WebPushSender,
        compose: Composer,
        *,
        batch: int = 500,
        lease_s: float = 60.0,
        max_attempts: int = 8,
        idle_wait_s: float = 1.0,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._sender = sender
        self._compose = compose
        self._batch = batch
        self._lease_s = lease_s
        self._max_attempts = max_attempts
        self._idle_wait_s = idle_wait_s
        self._alerts: dict[uuid.UUID, Alert] = {}
        self._due = asyncio.Event()

    async def run(self) -> None:
        """Deliver until cancelled; woken by new outbox rows, else polling for retries."""
        async with self._pool.acquire() as listener:
            await listener.add_listener("deliveries_due", self._wake)
            try:
                while True:
                    if not await self.deliver_once():
                        self._due.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._due.wait(), self._idle_wait_s)
            finally:
                await listener.remove_listener("deliveries_due", self._wake)

    def _wake(self, *_: object) -> None:
        self._due.set()

    async def deliver_once(self) -> int:
        """Claim one batch, send it, settle it; return how many were claimed."""
        async with self._pool.acquire() as conn:
            claimed = await outbox_store.claim_due(conn, self._batch, self._lease_s)
            if not claimed:
                return 0
            recipients, channels = await _recipients(conn, claimed)
            for alert_id in {c.alert_id for c in claimed} - self._alerts.keys():
                alert = await store.alert_by_id(conn, alert_id)
                if alert is not None:
                    self._alerts[alert_id] = alert
        batch_alerts = [self._alerts[a] for a in {c.alert_id for c in claimed} if a in self._alerts]
        prepared = await self._compose.prepare(batch_alerts)
        settled = await asyncio.gather(
            *(self._deliver(c, recipients.get(c.subscriber_id), channels.get(c.channel),
                            prepared)
              for c in claimed)
        )  # fmt: skip
        async with self._pool.acquire() as conn, conn.transaction():
            await outbox_store.settle(conn, [s for s, _ in settled])
            for gone in {ch for s, ch in settled if s.status == "gone" and ch}:
                await resident_store.disable_push_channel(conn, gone)
        for outcome, _ in settled:
            receipt = {"alert_id": str(outcome.delivery.alert_id), "status": outcome.status,
                       "subscriber_id": str(outcome.delivery.subscriber_id),
                       "channel": outcome.delivery.channel}  # fmt: skip
            await self._producer.send(
                topics.DELIVERIES, encode_json(receipt), key=receipt["subscriber_id"].encode()
            )
        return len(claimed)

    async def _deliver(
        self,
        claimed: Claimed,
        recipient: Recipient | None,
        channel: tuple[uuid.UUID, Subscription | None] | None,
        prepared: Any,
    ) -> tuple[Settled, uuid.UUID | None]:
        alert = self._alerts.get(claimed.alert_id)
        if recipient is None or channel is None or alert is None:
            return Settled(claimed, "gone", error="resident, channel or alert is gone"), None
        channel_id, subscription = channel
        if subscription is None:
            return Settled(claimed, "gone", error="push subscription unusable"), channel_id
        try:
            payload = self._compose.compose(alert, recipient, prepared)
            message = message_for_alert(
                payload, level=int(alert.level), ttl_s=PUSH_TTL_S, series=alert.area_name
            )
        except ValueError as exc:  # a message that cannot be sent as composed: say why
            return Settled(claimed, "failed", error=f"composing: {exc}"), None
        result = await self._sender.send(subscription, message)
        return self._settled(claimed, result), channel_id

    def _settled(self, claimed: Claimed, result: PushResult) -> Settled:
        if result.outcome is Outcome.DELIVERED:
            return Settled(claimed, "delivered")
        if result.outcome is Outcome.GONE:
            return Settled(claimed, "gone", error=f"{result.status}: {result.reason}"[:500])
        error = f"{result.outcome}: {result.status} {result.reason}"[:500]
        if result.outcome is Outcome.REJECTED or claimed.attempts >= self._max_attempts:
            return Settled(claimed, "failed", error=error)
        wait = backoff_s(claimed.attempts, result.retry_after_s)
        return Settled(claimed, "pending", datetime.now(UTC) + timedelta(seconds=wait), error)


async def _recipients(
    conn: asyncpg.Connection, claimed: list[Claimed]
) -> tuple[dict[uuid.UUID, Recipient], dict[str, tuple[uuid.UUID, Subscription | None]]]:
    """Load the residents and push channels of a batch in two statements."""
    subs = sorted({c.subscriber_id for c in claimed})
    rows = await conn.fetch(
        """SELECT s.id, s.language, s.needs, here.lat, here.lon FROM subscribers s
           LEFT JOIN LATERAL (
               SELECT lat, lon FROM subscriber_locations x
               WHERE x.subscriber_id = s.id AND (x.expires_at IS NULL OR x.expires_at > now())
               ORDER BY array_position(ARRAY['current', 'home', 'work'], x.kind) LIMIT 1
           ) here ON true
           WHERE s.id = ANY($1::uuid[])""",
        subs,
    )
    recipients = {
        r["id"]: Recipient(
            r["id"],
            r["language"],
            tuple(r["needs"]),
            None if r["lat"] is None else GeoPoint(lat=r["lat"], lon=r["lon"]),
        )
        for r in rows
    }
    channels: dict[str, tuple[uuid.UUID, Subscription | None]] = {}
    for channel_id, _, endpoint, p256dh, auth in await resident_store.push_channels_of(conn, subs):
        try:
            subscription = Subscription.from_keys(endpoint, p256dh=p256dh, auth=auth)
        except InvalidSubscriptionError:
            subscription = None
        channels[outbox_store.push_channel_key(channel_id)] = (channel_id, subscription)
    return recipients, channels
