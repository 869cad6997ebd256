"""Consumer groups on the real broker: a stopped consumer leaves its group at once."""

from __future__ import annotations

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
