"""Delivery workers: claim due push deliveries from the outbox, send them, settle the outcome.

A worker claims a batch under a lease (highest level first), composes each resident's own
message, encrypts and sends them concurrently (the sender bounds concurrency per push service
and overall, so one hanging service does not hold up the rest), and records the outcomes as
they come, a chunk at a time: a process killed mid-batch sends again only what it had sent and
not yet recorded, not its whole batch. Retries back off exponentially (or as ``Retry-After``
says); an endpoint its push service calls gone is disabled. Workers in several processes share
the outbox safely.

A city-wide alert is a million messages, so per-message overhead is kept to what the message
needs (``bench/notify/fanout.py`` measures it): residents and channels come in one statement
per batch, sends run on a few drainers per push service rather than a task each, what is the
same for many messages (the delivery options per alert; the payload per language, when the
composer says it is shared) is worked out once per batch, and receipts go out as one record
batch per partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from disaster import outbox_store, resident_store, store, topics
from disaster._kafka import encode_json
from disaster.domain import Alert, GeoPoint
from disaster.outbox_store import Claimed, Settled
from notify._cache import forget_beyond
from notify._drain import drain_forever
from notify.webpush import (
    InvalidSubscriptionError,
    Outcome,
    PushMessage,
    PushResult,
    Subscription,
    WebPushSender,
    message_for_alert,
)

__all__ = ["Composer", "DeliveryWorker", "Recipient", "SharingComposer", "backoff_s"]

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
    depth_m: float | None = None  # expected flood depth at the building they are in, if known


class Composer(Protocol):
    """Makes each resident's payload; ``prepare`` runs once per batch (catching up the router,
    say) and its result is handed to every ``compose`` of that batch."""

    async def prepare(self, alerts: list[Alert]) -> Any: ...

    def compose(self, alert: Alert, recipient: Recipient, prepared: Any) -> bytes: ...


@runtime_checkable
class SharingComposer(Composer, Protocol):
    """A composer that can tell when residents get the same payload, so that a batch composes
    it once per key rather than once per resident: a plain alert depends on the language
    alone, a personal route (pattern C) or incident (pattern D) on the resident."""

    def shared_key(self, alert: Alert, recipient: Recipient, prepared: Any) -> Hashable | None:
        """Return a key shared by every resident whose payload ``compose`` makes the same for
        this alert and batch, or None when the payload is the resident's own."""
        ...


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
        lease_s: float = 15.0,
        max_attempts: int = 8,
        idle_wait_s: float = 1.0,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._sender = sender
        self._compose = compose
        self._shared_key = compose.shared_key if isinstance(compose, SharingComposer) else None
        self._batch = batch
        self._lease_s = lease_s
        self._max_attempts = max_attempts
        self._idle_wait_s = idle_wait_s
        self._alerts: dict[uuid.UUID, Alert] = {}
        self._receipts: asyncio.Task[None] | None = None
        self._unpublished: list[Settled] = []

    async def run(self) -> None:
        """Deliver until cancelled; woken by new outbox rows, else polling for retries."""
        try:
            await drain_forever(self._pool, "deliveries_due", self.deliver_once, self._idle_wait_s)
        finally:
            if self._receipts is not None:  # the last receipts get a moment, not the timeout
                await asyncio.wait([self._receipts], timeout=_RECEIPTS_ON_STOP_S)
                self._receipts.cancel()

    async def deliver_once(self) -> int:
        """Claim one batch, send it, settle it; return how many were claimed."""
        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        async with self._pool.acquire() as conn:
            claimed = await outbox_store.claim_due(conn, self._batch, self._lease_s)
            if not claimed:
                return 0
            batch = _Batch(*await _recipients(conn, claimed))
            alert_ids = {c.alert_id for c in claimed}
            await self._load_alerts(conn, alert_ids)
        batch.held_until = asked_at + self._lease_s * _SENDING_SHARE
        heartbeat = asyncio.create_task(self._hold(claimed, batch))  # before the composer's
        settler = _Settler(self._pool)  # preparing, which may take long (the router's trees)
        recording = asyncio.create_task(settler.run())
        try:
            batch.prepared = await self._compose.prepare(
                [self._alerts[a] for a in alert_ids if a in self._alerts]
            )
            await self._send_batch(claimed, batch, settler.add)
        finally:
            heartbeat.cancel()
            settler.close()
            await asyncio.gather(heartbeat, recording, return_exceptions=True)
        await settler.flush()  # what is left, or what a failed chunk put back (raises again)
        self._send_receipts([s for s, _ in settler.recorded])
        return len(claimed)

    def _send_receipts(self, outcomes: list[Settled]) -> None:
        """Queue the batch's receipts for publication while the next batch is sent.

        Receipts follow progress for those who follow the ``deliveries`` topic; the outbox rows
        just settled are the record. Waiting for them held every batch of a fan-out for the
        whole receipts timeout while the broker was down (500 residents per 5 s per worker).
        One task per worker publishes what is queued; past ``_RECEIPTS_QUEUED`` waiting (a
        broker down for long), new ones are dropped, with a warning, rather than kept without
        bound.
        """
        if len(self._unpublished) + len(outcomes) > _RECEIPTS_QUEUED:
            _log.warning(
                "receipts of %d deliveries not published: %d are waiting for the broker",
                len(outcomes), len(self._unpublished),
            )  # fmt: skip
            return
        self._unpublished.extend(outcomes)
        if self._receipts is None or self._receipts.done():
            self._receipts = asyncio.create_task(self._publish_receipts())

    async def _publish_receipts(self) -> None:
        while outcomes := self._unpublished:
            self._unpublished = []
            try:
                async with asyncio.timeout(_RECEIPTS_TIMEOUT_S):
                    await self._publish(outcomes)
            except (KafkaError, TimeoutError) as exc:
                _log.warning("receipts of %d deliveries not published (%r)", len(outcomes), exc)

    async def _hold(self, claimed: list[Claimed], batch: _Batch) -> None:
        """Renew the batch's leases every third of a lease while it is being sent.

        The batch is sent only while the lease is known to be held (``batch.held_until``, on
        this process's clock, counted from before the renewal was asked for). A process that
        stalled past its lease (CPU starved, swapped out, paused) may have had its rows taken
        over by another worker, which sends them: it must not send them too. The renewal finds
        that out, and a stall long enough to make it late shows on the clock anyway.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._lease_s / 3)
            asked_at = loop.time()
            if asked_at >= batch.held_until:
                break
            async with self._pool.acquire() as conn:
                held = await outbox_store.extend_leases(conn, claimed, self._lease_s)
            if held < len(claimed):
                break
            batch.held_until = asked_at + self._lease_s * _SENDING_SHARE
        batch.held_until = 0.0
        _log.warning(
            "a batch of %d deliveries lost its lease while being sent; its rest is left to "
            "the worker that holds them now", len(claimed),
        )  # fmt: skip

    async def _load_alerts(self, conn: asyncpg.Connection, alert_ids: set[uuid.UUID]) -> None:
        forget_beyond(self._alerts, alert_ids)
        for alert_id in alert_ids - self._alerts.keys():
            alert = await store.alert_by_id(conn, alert_id)
            if alert is not None:
                self._alerts[alert_id] = alert

    async def _send_batch(
        self, claimed: list[Claimed], batch: _Batch, record: Callable[[_Sent], None]
    ) -> None:
        """Send a batch with a few drainers per push service origin rather than a task per
        message: tasks cost more than the sends' own bookkeeping, and the sender lets no more
        than its per-origin bound through anyway. A hanging origin stalls only its drainers.
        Each outcome goes to ``record`` as it comes."""
        by_origin: dict[str, list[Claimed]] = {}
        for row in claimed:
            _, subscription = batch.channels.get(row.channel, (None, None))
            by_origin.setdefault(subscription.origin if subscription else "", []).append(row)
        async with asyncio.TaskGroup() as group:
            for rows in by_origin.values():
                todo = iter(rows)
                for _ in range(min(_DRAINERS_PER_ORIGIN, len(rows))):
                    group.create_task(self._drain(todo, batch, record))

    async def _drain(
        self, todo: Iterator[Claimed], batch: _Batch, record: Callable[[_Sent], None]
    ) -> None:
        for row in todo:
            if (sent := await self._deliver(row, batch)) is not None:
                record(sent)

    async def _deliver(self, claimed: Claimed, batch: _Batch) -> _Sent | None:
        if asyncio.get_running_loop().time() >= batch.held_until:
            return None  # the lease is lost (see _hold): not sent, not settled
        alert = self._alerts.get(claimed.alert_id)
        recipient = batch.recipients.get(claimed.subscriber_id)
        channel = batch.channels.get(claimed.channel)
        if recipient is None or channel is None or alert is None:
            return Settled(claimed, "gone", error="resident, channel or alert is gone"), None
        channel_id, subscription = channel
        if subscription is None:
            return Settled(claimed, "gone", error="push subscription unusable"), channel_id
        try:
            message = self._message(alert, recipient, batch)
        except ValueError as exc:  # a message that cannot be sent as composed: say why
            return Settled(claimed, "failed", error=f"composing: {exc}"), None
        result = await self._sender.send(subscription, message)
        return self._settled(claimed, result), channel_id

    def _message(self, alert: Alert, recipient: Recipient, batch: _Batch) -> PushMessage:
        """The resident's message: the payload composed once per shared key when the composer
        can tell (else for the resident alone); the delivery options once per alert."""
        key = self._shared_key(alert, recipient, batch.prepared) if self._shared_key else None
        if key is None:
            payload = self._compose.compose(alert, recipient, batch.prepared)
        elif (payload := batch.shared.get((alert.id, key))) is None:
            payload = self._compose.compose(alert, recipient, batch.prepared)
            batch.shared[(alert.id, key)] = payload
        options = batch.options.get(alert.id)
        if options is None:
            options = message_for_alert(
                b"", level=int(alert.level), ttl_s=PUSH_TTL_S, series=alert.area_name
            )
            batch.options[alert.id] = options
        return PushMessage(payload, options.ttl_s, options.urgency, options.topic)

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

    async def _publish(self, outcomes: list[Settled]) -> None:
        """Publish the receipts, one record batch per partition rather than a ``send`` each.

        Each receipt goes to the partition ``send`` would pick for its key (the default
        partitioner, which ``new_producer`` leaves in place), so a resident's receipts stay in
        order; like ``send``, this waits for the records to be queued, not for the broker.
        """
        partitions = sorted(await self._producer.partitions_for(topics.DELIVERIES))
        open_batches: dict[int, BatchBuilder] = {}
        for outcome in outcomes:
            key, value = _receipt(outcome)
            partition = _PARTITIONER(key, partitions, partitions)
            batch = open_batches.get(partition)
            if batch is not None and batch.append(key=key, value=value, timestamp=None):
                continue
            if batch is not None:  # full: on its way, and a new one for this partition
                await self._producer.send_batch(batch, topics.DELIVERIES, partition=partition)
            batch = open_batches[partition] = self._producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)
        for partition, batch in open_batches.items():
            await self._producer.send_batch(batch, topics.DELIVERIES, partition=partition)


def _receipt(outcome: Settled) -> tuple[bytes, bytes]:
    """The ``deliveries`` record of an outcome: keyed by resident, as followers expect."""
    delivery = outcome.delivery
    body = {"alert_id": str(delivery.alert_id), "status": outcome.status,
            "subscriber_id": str(delivery.subscriber_id), "channel": delivery.channel}  # fmt: skip
    return body["subscriber_id"].encode(), encode_json(body)


#: Sends in flight per push service origin and batch; the sender's own bound (64 by default)
#: decides how many of them really are.
_DRAINERS_PER_ORIGIN = 64
_PARTITIONER = DefaultPartitioner()
#: Receipts wait this long for room in the producer; a broker outage must not stop deliveries.
_RECEIPTS_TIMEOUT_S = 5.0
_RECEIPTS_ON_STOP_S = 1.0  # how long a stopping worker lets its last receipts go out
_RECEIPTS_QUEUED = 20_000  # receipts a worker keeps waiting for the broker, at most
#: Sends start only within this share of a lease known to be held, so that one under way
#: ends before the lease does.
_SENDING_SHARE = 0.8

#: Outcomes are recorded once this many wait, or this often: what a killed process sent and
#: had not recorded goes out again, so the window is kept to a fraction of a batch.
_SETTLE_CHUNK = 50
_SETTLE_EVERY_S = 0.2

_Sent = tuple[Settled, uuid.UUID | None]  # the outcome, and the push channel it concerns


class _Settler:
    """Records a batch's outcomes in the outbox as they come, a chunk per transaction.

    A chunk that fails to be recorded is put back, so the last :meth:`flush` tries it again
    and raises if it still fails: the batch's leases then run out and its rows are sent again,
    as when a process dies. Recording twice is harmless: a settled row no longer carries the
    claim's token, which ``settle`` requires.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._waiting: list[_Sent] = []
        self._wake = asyncio.Event()
        self._closed = False
        self.recorded: list[_Sent] = []

    def add(self, sent: _Sent) -> None:
        """Take one outcome; a full chunk is recorded at once."""
        self._waiting.append(sent)
        if len(self._waiting) >= _SETTLE_CHUNK:
            self._wake.set()

    def close(self) -> None:
        """Stop :meth:`run` after its current chunk."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """Record chunks until closed."""
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SETTLE_EVERY_S):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Record every outcome waiting, in one transaction."""
        chunk, self._waiting = self._waiting, []
        if not chunk:
            return
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await outbox_store.settle(conn, [s for s, _ in chunk])
                for gone in {ch for s, ch in chunk if s.status == "gone" and ch}:
                    await resident_store.disable_push_channel(conn, gone)
        except BaseException:
            self._waiting[:0] = chunk
            raise
        self.recorded += chunk


@dataclass
class _Batch:
    """What a claimed batch shares: its residents and channels, the composer's prepared state,
    and what many of its messages have in common, worked out once."""

    recipients: dict[uuid.UUID, Recipient]
    channels: dict[str, tuple[uuid.UUID, Subscription | None]]
    prepared: Any = None
    held_until: float = 0.0  # the loop's clock: sends start only before this (see _hold)
    options: dict[uuid.UUID, PushMessage] = field(default_factory=dict)
    shared: dict[tuple[uuid.UUID, Hashable], bytes] = field(default_factory=dict)


async def _recipients(
    conn: asyncpg.Connection, claimed: list[Claimed]
) -> tuple[dict[uuid.UUID, Recipient], dict[str, tuple[uuid.UUID, Subscription | None]]]:
    """Load the residents of a batch and their working push channels in one statement.

    Every table is reached by key from the batch's ids (lateral joins): a plan chosen on
    statistics taken before a bulk registration (a seq scan of push channels per resident,
    measured at 2–3.5 s a batch of 500 against 50,000 residents) cannot come back.
    """
    rows = await conn.fetch(
        f"""SELECT s.id, s.language, s.needs, here.lat, here.lon, building.depth_m,
                  p.id, p.endpoint, p.p256dh, p.auth
           FROM unnest($1::uuid[]) AS wanted (id)
           JOIN LATERAL (SELECT * FROM subscribers WHERE id = wanted.id) s ON true
           {outbox_store.WHERE_THEY_ARE}
           LEFT JOIN LATERAL (  -- the smallest building box holding them (the city model's)
               SELECT greatest(b.flood_depth_m, b.extent_depth_m) AS depth_m FROM buildings b
               WHERE box(point(b.min_lon, b.min_lat), point(b.max_lon, b.max_lat))
                     && box(point(here.lon, here.lat), point(here.lon, here.lat))
                 AND here.lon BETWEEN b.min_lon AND b.max_lon
                 AND here.lat BETWEEN b.min_lat AND b.max_lat
               ORDER BY (b.max_lon - b.min_lon) * (b.max_lat - b.min_lat) LIMIT 1
           ) building ON true
           LEFT JOIN LATERAL (
               SELECT id, endpoint, p256dh, auth FROM push_channels
               WHERE subscriber_id = s.id AND disabled_at IS NULL
           ) p ON true""",  # noqa: S608 - a constant fragment, no input
        sorted({c.subscriber_id for c in claimed}),
    )
    recipients: dict[uuid.UUID, Recipient] = {}
    channels: dict[str, tuple[uuid.UUID, Subscription | None]] = {}
    for sub_id, language, needs, lat, lon, depth, channel_id, endpoint, p256dh, auth in rows:
        if sub_id not in recipients:
            here = None if lat is None else GeoPoint(lat=lat, lon=lon)
            recipients[sub_id] = Recipient(sub_id, language, tuple(needs), here, depth)
        if channel_id is not None:
            channels[outbox_store.push_channel_key(channel_id)] = (
                channel_id,
                _subscription(endpoint, p256dh, auth),
            )
    return recipients, channels


def _subscription(endpoint: str, p256dh: str, auth: str) -> Subscription | None:
    try:
        return Subscription.from_keys(endpoint, p256dh=p256dh, auth=auth)
    except InvalidSubscriptionError:
        return None
