"""Consumer groups on the real broker: a stopped consumer leaves its group at once, and stops
at once even while the broker holds its join."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from disaster._kafka import ensure_topics, stop_consumer
from tests.support import wait_until


async def _members(bootstrap: str, group: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (entry,) = described.groups
    return [member[0] for member in entry[5]]  # (error, group, state, type, protocol, members)


async def test_a_stopped_consumer_leaves_its_group_even_in_the_first_generation(
    bootstrap: str,
) -> None:
    """The embedded broker numbers a group's first generation 0, in which aiokafka's own stop
    does not leave the group (Kafka numbers from 1): the member stayed until its session timed
    out, and the group's next member waited for that (18 s measured, against 5 s)."""
    topic, group = f"leave-{uuid.uuid4().hex[:8]}", f"leave-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, {topic: 1})
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await wait_until(lambda: _assigned(consumer), timeout_s=30)
        member = consumer._coordinator.member_id
        assert await _members(bootstrap, group) == [member]
    finally:
        await stop_consumer(consumer)
    assert await _members(bootstrap, group) == []


async def _assigned(consumer: AIOKafkaConsumer) -> bool:
    return bool(consumer.assignment())


def _group_consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"join-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )  # fmt: skip


async def _rejoining(consumer: AIOKafkaConsumer, *, membership_lost: bool = False) -> None:
    """Start the consumer (its first join), then have it rejoin as a rebalance does, or as a
    lost membership does (a commit refused by a broker that restarted), and return while the
    broker holds that join."""
    await consumer.start()
    if membership_lost:
        consumer._coordinator.reset_generation()
    consumer._coordinator.request_rejoin()
    await wait_until(lambda: _joining(consumer), timeout_s=10, interval_s=0.01)


async def _joining(consumer: AIOKafkaConsumer) -> bool:
    """True while the consumer's JoinGroup is in flight (aiokafka's flag for a prepared join)."""
    return consumer._coordinator._performed_join_prepare


async def _closed(consumer: AIOKafkaConsumer) -> bool:
    """Nothing of the consumer is left running: no fetch task, no connection, no coordination."""
    return (
        consumer._fetcher._fetch_task.done()
        and consumer._client._sync_task is None
        and not any(conn.connected() for conn in consumer._client._conns.values())
        and consumer._coordinator._coordination_task.done()
    )


async def test_a_consumer_stopped_while_the_broker_holds_its_join_stops_at_once(
    bootstrap: str,
) -> None:
    """The embedded broker holds a group's join about 5 s; aiokafka's stop waited it out, and
    services stopping just after a broker restart (all groups rejoining) hung on it."""
    topic = f"join-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, {topic: 1})
    consumer = _group_consumer(bootstrap, topic)
    await _rejoining(consumer)
    member = consumer._coordinator.member_id
    assert await _members(bootstrap, consumer._group_id) == [member]
    await asyncio.wait_for(stop_consumer(consumer), 2.0)
    assert await _closed(consumer)
    assert await _members(bootstrap, consumer._group_id) == []  # it left, too


async def test_a_stop_cancelled_while_waiting_for_a_join_still_closes_the_consumer(
    bootstrap: str,
) -> None:
    """A loop cancelled while it replaces its consumer (see ConsumerLoop.rewind) cancels the
    stop's wait for the join: the consumer must still close, or its fetcher goes on polling a
    broker that may be gone, logging errors into whatever runs next."""
    topic = f"join-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, {topic: 1})
    consumer = _group_consumer(bootstrap, topic)
    await _rejoining(consumer, membership_lost=True)
    stopping = asyncio.create_task(stop_consumer(consumer, join_wait_s=30.0))
    await asyncio.sleep(0.2)  # the stop is now waiting for the join to finish
    assert not stopping.done()
    stopping.cancel()
    done, _ = await asyncio.wait({stopping}, timeout=2.0)
    assert done
    assert stopping.cancelled()
    await wait_until(lambda: _closed(consumer), timeout_s=2, interval_s=0.01)
