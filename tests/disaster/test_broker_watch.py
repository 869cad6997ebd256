"""The broker watch claims one epoch on a new broker and keeps it: a check never mistakes a slow
read for a broker that forgot everything (which would send every consumer back to the start)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from disaster import topics
from disaster._kafka import ensure_topics, failed_refreshes, new_producer
from disaster.embedded import EmbeddedKafka
from disaster.ingress import EPOCH_TOPIC, BrokerWatch, IngressPublisher, accept
from tests.support import wait_until


@pytest.fixture
async def watched(
    own_broker: EmbeddedKafka,
) -> AsyncIterator[tuple[BrokerWatch, AIOKafkaConsumer, list[bool]]]:
    """A watch on a broker of its own, a consumer made as the watch makes its own, and the
    list its "forgotten" listener appends to."""
    producer = new_producer(own_broker.bootstrap)
    await producer.start()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=own_broker.bootstrap, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    forgotten: list[bool] = []

    async def listener() -> None:
        forgotten.append(True)

    watch = BrokerWatch(own_broker.bootstrap, producer)
    watch.on_forgotten(listener)
    try:
        yield watch, consumer, forgotten
    finally:
        await consumer.stop()
        await producer.stop()


async def test_checks_on_a_live_broker_claim_one_epoch_and_never_report_a_change(
    watched: tuple[BrokerWatch, AIOKafkaConsumer, list[bool]],
) -> None:
    watch, consumer, forgotten = watched
    changes = [await watch.check(consumer) for _ in range(5)]
    tp = TopicPartition(EPOCH_TOPIC, 0)
    written = (await consumer.end_offsets([tp]))[tp]

    assert watch.epoch is not None  # known after the first check, not a few checks later
    assert changes == [False] * 5
    assert forgotten == []
    assert written == 1  # one epoch claimed, not one per slow read


class _EndReadBeforeRestart:
    """The watch's consumer, answering end offsets read just before the broker restarted: the
    restart falls between the watch's reading the end and its fetching the epoch."""

    def __init__(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        self._consumer = consumer
        self._ends = ends

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self._ends[tp] for tp in partitions}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


@pytest.mark.timeout(60)
async def test_a_restart_while_the_epoch_is_read_is_noticed_at_once(
    watched: tuple[BrokerWatch, AIOKafkaConsumer, list[bool]], own_broker: EmbeddedKafka
) -> None:
    """The new broker's epoch partition, shorter than the end read before the restart, is
    taken for a forgotten epoch at once, not read again until the check times out (10 s)
    while consumers read the new broker at their old positions."""
    watch, consumer, forgotten = watched
    await watch.check(consumer)
    before = watch.epoch
    tp = TopicPartition(EPOCH_TOPIC, 0)
    ends = await consumer.end_offsets([tp])
    await asyncio.to_thread(own_broker.restart)
    late_end = _EndReadBeforeRestart(consumer, ends)
    changed = await asyncio.wait_for(watch.check(late_end), 5.0)  # type: ignore[arg-type]

    assert changed
    assert watch.epoch not in (None, before)
    assert forgotten == [True]


@pytest.mark.timeout(90)
async def test_records_sent_before_the_topics_are_recreated_do_not_break_later_writes(
    own_broker: EmbeddedKafka,
) -> None:
    """A producer that knew the broker before it restarted empty writes every record once the
    topic is back, and the partition keeps them in order, one offset each.

    Guarantee checked: the embedded broker writes a record even into a topic it does not have,
    and creating the topic afterwards (as the watch does) starts its partitions at offset 0
    again over the records already written. A producer going on with the partitions it knew
    from before the restart then made every later write collide with one of those records
    (``UnknownError``) until the offsets passed them, which for a handler publishing one event
    at a time with a capped backoff took minutes. The producer forgets partitions its metadata
    refresh could not confirm while the broker was down, and asks the new broker before it
    writes again.
    """
    bootstrap, tp = own_broker.bootstrap, TopicPartition("restart.probe", 0)
    await ensure_topics(bootstrap, {tp.topic: 1})
    producer = new_producer(bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(tp.topic, b"before", partition=0)
        own_broker.kill()
        await asyncio.sleep(1.0)  # the producer's metadata refresh fails meanwhile
        await asyncio.to_thread(own_broker.restart)
        early = asyncio.create_task(producer.send_and_wait(tp.topic, b"early", partition=0))
        await asyncio.sleep(1.0)  # the watch notices the restart only a little later
        await ensure_topics(bootstrap, {tp.topic: 1})
        await asyncio.wait_for(early, 30)
        for i in range(3):
            later = producer.send_and_wait(tp.topic, f"later {i}".encode(), partition=0)
            await asyncio.wait_for(later, 30)
    finally:
        await producer.stop()
    read = await asyncio.wait_for(_read_from_start(bootstrap, tp, 4), 15)

    assert read == [(0, b"early"), (1, b"later 0"), (2, b"later 1"), (3, b"later 2")]


async def _read_from_start(bootstrap: str, tp: TopicPartition, count: int) -> list[tuple]:
    """The first ``count`` records of a partition, as (offset, value)."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await reader.start()
    try:
        reader.assign([tp])
        read: list[tuple] = []
        while len(read) < count:
            batch = await reader.getmany(tp, timeout_ms=500)
            read += [(r.offset, r.value) for r in batch.get(tp, [])]
        return read
    finally:
        await reader.stop()


async def test_after_losing_its_broker_the_publisher_sends_nothing_before_the_watch_checked(
    own_broker: EmbeddedKafka, own_pool: asyncpg.Pool
) -> None:
    """Records accepted before and while the broker was down reach the restarted (empty)
    broker in acceptance order, although the watch's own round would come only in an hour.

    Guarantee checked: a consumer still at its position on the old broker reads the new one
    from there, so a newer record written first would be read before older ones it never had
    (a late reading). After the producer lost its broker, the publisher has the watch check
    the broker answering now before it sends: one that came back empty is handled first
    (the accepted records marked to send again), and everything goes out in order.
    """
    bootstrap, topic = own_broker.bootstrap, topics.SENSOR_RAW
    producer = new_producer(bootstrap)
    await producer.start()
    watch = BrokerWatch(bootstrap, producer, period_s=3600.0)
    publisher = IngressPublisher(own_pool, producer, watch=watch)
    watch.on_forgotten(publisher.republish)
    watching = asyncio.create_task(watch.run())
    try:
        await wait_until(lambda: _true(watch.epoch is not None), timeout_s=30)
        async with own_pool.acquire() as conn:
            for value in (b"one", b"two"):
                await accept(conn, topic, b"k", value)
        assert await publisher.publish_pending() == 2

        own_broker.kill()
        lost = failed_refreshes(producer.client)
        await wait_until(lambda: _true(failed_refreshes(producer.client) > lost), timeout_s=30)
        async with own_pool.acquire() as conn:
            await accept(conn, topic, b"k", b"three")  # accepted while it is down
        await asyncio.to_thread(own_broker.restart)
        while not await publisher.publish_pending():
            pass  # the first attempts may find the broker not answering yet
        while await publisher.publish_pending():
            pass
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await producer.stop()
    by_partition = await asyncio.wait_for(_read_topic(bootstrap, topic, 3), 15)

    # One key, one partition (which one depends on how many the new broker's topic has).
    assert list(by_partition.values()) == [[b"one", b"two", b"three"]]


async def _read_topic(bootstrap: str, topic: str, count: int) -> dict[int, list[bytes]]:
    """The first ``count`` records of a topic, by partition, in offset order."""
    reader = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await reader.start()
    try:
        read: dict[int, list[bytes]] = {}
        while sum(map(len, read.values())) < count:
            for part, records in (await reader.getmany(timeout_ms=500)).items():
                read.setdefault(part.partition, []).extend(r.value for r in records)
        return read
    finally:
        await reader.stop()


async def _true(value: bool) -> bool:
    return value
