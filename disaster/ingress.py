"""What the system itself accepted stays in Postgres until a broker that may forget has it.

Residents' and staff's incident reports, HQ's issued alerts and the MQTT bridge's readings are
accepted by this system, not by a source that could send them again, so they are written to
``ingress_outbox`` in Postgres first (the HTTP answer and the MQTT acknowledgement wait only for
that) and a publisher moves them to Kafka. A broker outage therefore delays them, never loses
them.

The embedded broker keeps everything in memory: when it restarts it has forgotten every record,
topic and committed offset. :class:`BrokerWatch` notices (the epoch record it keeps on its own
topic is gone), recreates the topics, and tells its listeners: the publisher sends again what
was accepted within the retention window, and each consumer goes back to the start of its
partitions, since offsets it held no longer mean anything (a consumer whose position lies past
the new end would skip records). Consumers are idempotent, so what was stored before is stored
once. Against a durable Kafka cluster the epoch never changes and none of this fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from disaster import topics
from disaster._kafka import ensure_topics, failed_refreshes
from disaster._pg import DATABASE_DOWN, ChannelListener

__all__ = ["EPOCH_TOPIC", "BrokerWatch", "IngressPublisher", "accept", "published"]

_log = logging.getLogger(__name__)
_CHANNEL = "ingress"
EPOCH_TOPIC = "disaster.broker-epoch"
_SEND_TIMEOUT_S = 30.0

Listener = Callable[[], Awaitable[None]]


async def accept(
    conn: asyncpg.Connection,
    topic: str,
    key: bytes | None,
    value: bytes,
    headers: Mapping[str, str] | None = None,
) -> int:
    """Keep a record for ``topic``; it is published once the surrounding transaction commits.

    Returns the row id; :func:`published` tells when the broker has acknowledged it.
    """
    row_id: int = await conn.fetchval(
        """INSERT INTO ingress_outbox (topic, key, value, headers) VALUES ($1, $2, $3, $4)
           RETURNING id""",
        topic, key, value, dict(headers or {}),
    )  # fmt: skip
    await conn.execute("SELECT pg_notify($1, '')", _CHANNEL)
    return row_id


async def published(conn: asyncpg.Connection, ids: Sequence[int]) -> bool:
    """Return True when the broker has acknowledged every one of these accepted records."""
    waiting = await conn.fetchval(
        "SELECT count(*) FROM ingress_outbox WHERE id = ANY($1::bigint[]) AND published_at IS NULL",
        list(ids),
    )
    return waiting == 0


class IngressPublisher:
    """Moves accepted records to Kafka in acceptance order, marking each once acknowledged."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        retention_s: float = 3600.0,
        batch: int = 500,
        watch: BrokerWatch | None = None,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._retention_s = retention_s
        self._batch = batch
        self._wake = asyncio.Event()
        self._watch = watch
        self._lost_seen = failed_refreshes(producer.client)

    async def run(self) -> None:
        """Publish until cancelled: at once when notified, and every second after a failure
        (a broker or a database that is away); the channel is listened on again after a
        database restart."""
        listener = ChannelListener(self._pool, _CHANNEL, self._notified, on_relisten=self._wake.set)
        await listener.start()
        try:
            while True:
                self._wake.clear()
                try:
                    while await self.publish_pending():
                        pass
                    await self._prune()
                except (KafkaError, *DATABASE_DOWN) as exc:
                    _log.warning("publishing accepted records failed (%r); retrying", exc)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._wake.wait()
        finally:
            await listener.stop()

    def _notified(self, *_args: object) -> None:
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished records; return how many were published.

        Rows stay locked while the broker acknowledges them, so two publishers never send the
        same rows at once; a failure rolls back and the rows wait for the next attempt.

        After the producer lost its broker, nothing is sent until the watch has checked the
        broker answering now: one that came back empty is first handled (consumers sent back
        to the start, what it forgot marked to send again), so records reach it in acceptance
        order and no consumer, still at its old position, reads a newer record before an older
        one it never had. The check is outside the rows' transaction: handling a forgetful
        broker marks rows this transaction would hold.
        """
        lost = failed_refreshes(self._producer.client)
        if self._watch is not None and lost != self._lost_seen:
            await self._watch.verified()
            self._lost_seen = lost
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT id, topic, key, value, headers FROM ingress_outbox
                   WHERE published_at IS NULL ORDER BY id LIMIT $1
                   FOR UPDATE SKIP LOCKED""",
                self._batch,
            )
            if not rows:
                return 0
            sent = [
                await self._producer.send(
                    r["topic"], r["value"], key=r["key"],
                    headers=[(k, v.encode()) for k, v in r["headers"].items()] or None,
                )
                for r in rows
            ]  # fmt: skip
            # Every outcome is collected, so the sends failing after the first are not left
            # unretrieved ("Future exception was never retrieved" in the log).
            async with asyncio.timeout(_SEND_TIMEOUT_S):
                outcomes = await asyncio.gather(*sent, return_exceptions=True)
            failed = next((o for o in outcomes if isinstance(o, BaseException)), None)
            if failed is not None:
                raise failed
            await conn.execute(
                "UPDATE ingress_outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [r["id"] for r in rows],
            )
        return len(rows)

    async def republish(self) -> None:
        """The broker forgot what it held: send again everything within the retention."""
        async with self._pool.acquire() as conn:
            status = await conn.execute(
                """UPDATE ingress_outbox SET published_at = NULL
                   WHERE published_at IS NOT NULL
                     AND accepted_at > now() - make_interval(secs => $1)""",
                self._retention_s,
            )
        _log.warning("broker restarted empty: republishing %s accepted records", status.split()[-1])
        self._wake.set()

    async def _prune(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                """DELETE FROM ingress_outbox WHERE published_at IS NOT NULL
                   AND accepted_at < now() - make_interval(secs => $1)""",
                self._retention_s,
            )


class BrokerWatch:
    """Notices a broker that came back empty, by an epoch record on a topic of its own."""

    def __init__(self, bootstrap: str, producer: AIOKafkaProducer, period_s: float = 1.0) -> None:
        self._bootstrap = bootstrap
        self._producer = producer
        self._period_s = period_s
        self._listeners: list[Listener] = []
        self.epoch: str | None = None
        self._lock = asyncio.Lock()  # one check at a time: the loop's, or a publisher's
        self._consumer: AIOKafkaConsumer | None = None
        #: What went wrong in the last check, None if it passed (or none finished yet).
        self.problem: str | None = None

    def on_forgotten(self, listener: Listener) -> None:
        """Call ``listener`` each time the broker is found to have lost what it held."""
        self._listeners.append(listener)

    async def run(self) -> None:
        """Check until cancelled; a broker that cannot be reached is checked again later."""
        # The epoch topic is the first the shared producer is asked for after it read the
        # cluster's topics, and aiokafka, asked for a topic it does not know, narrows the
        # metadata it keeps from every topic to that one: a batch then waiting for another
        # topic's leader (a record accepted for sensor.raw at start-up, say) would wait for
        # the publisher's send timeout. Tracking every topic of the service keeps them known.
        await self._producer.client.set_topics([*topics.PARTITIONS, EPOCH_TOPIC])
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, group_id=None
        )
        try:  # a start cancelled half-way still has a connection to close
            await consumer.start()
            self._consumer = consumer
            while True:
                try:
                    await self.check(consumer)
                except (KafkaError, *DATABASE_DOWN) as exc:
                    _log.info("broker epoch check failed (%r); trying again", exc)
                    self.problem = f"broker unreachable: {exc!r}"
                else:
                    self.problem = None
                await asyncio.sleep(self._period_s)
        finally:
            self._consumer = None
            await consumer.stop()

    async def verified(self) -> None:
        """Check the broker now (see :meth:`check`); raise if it cannot be, or before
        :meth:`run` has started."""
        if self._consumer is None:
            msg = "the broker watch has not started"
            raise KafkaConnectionError(msg)
        await self.check(self._consumer)

    async def check(self, consumer: AIOKafkaConsumer) -> bool:
        """Read the epoch (claiming a new one if there is none); return True if it changed."""
        async with self._lock:
            return await self._check(consumer)

    async def _check(self, consumer: AIOKafkaConsumer) -> bool:
        async with asyncio.timeout(10.0):
            epoch = await self._read(consumer)
        if epoch is None:
            await ensure_topics(self._bootstrap, topics.PARTITIONS, topics.COMPACTED)
            await ensure_topics(self._bootstrap, {EPOCH_TOPIC: 1})
            # Partition 0 by name: reading the topic before it existed may have made the broker
            # create it with its default partition count, and a keyless record goes anywhere.
            await self._producer.send_and_wait(EPOCH_TOPIC, uuid.uuid4().hex.encode(), partition=0)
            async with asyncio.timeout(10.0):
                epoch = await self._read(consumer)
        changed = self.epoch is not None and epoch != self.epoch
        if changed:  # the epoch is taken only once every listener has run: a failure retries
            for listener in self._listeners:
                await listener()
        self.epoch = epoch
        return changed

    async def _read(self, consumer: AIOKafkaConsumer) -> str | None:
        """The newest epoch record, or None when the topic holds none.

        A fetch may come back empty although the record is there (the embedded broker answers
        a fetch soon after a seek with nothing, measured): that is read again, never taken for
        a missing epoch, which would claim a new one and make every consumer start over. Only
        a fetch that finds the partition shorter than its end was is: the broker restarted
        empty in between (else this would wait for check()'s timeout, with consumers reading
        the new broker at their old positions meanwhile).
        """
        tp = TopicPartition(EPOCH_TOPIC, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        if end == 0:
            return None
        consumer.seek(tp, end - 1)
        while not (records := (await consumer.getmany(tp, timeout_ms=500)).get(tp)):
            # bounded by check()'s timeout: a broker that never answers is a failed check
            highwater = consumer.highwater(tp)
            if highwater is not None and highwater < end:
                return None
        return records[-1].value.decode()
