"""The broker watch claims one epoch on a new broker and keeps it: a check never mistakes a slow
read for a broker that forgot everything (which would send every consumer back to the start)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from disaster._kafka import new_producer
from disaster.embedded import EmbeddedKafka
from disaster.ingress import EPOCH_TOPIC, BrokerWatch


async def test_checks_on_a_live_broker_claim_one_epoch_and_never_report_a_change(
    own_broker: EmbeddedKafka,
) -> None:
    producer = new_producer(own_broker.bootstrap)
    await producer.start()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=own_broker.bootstrap, enable_auto_commit=False, group_id=None
    )  # as the watch makes its own
    await consumer.start()
    forgotten = []

    async def listener() -> None:
        forgotten.append(True)

    watch = BrokerWatch(own_broker.bootstrap, producer)
    watch.on_forgotten(listener)
    try:
        changes = [await watch.check(consumer) for _ in range(5)]
        tp = TopicPartition(EPOCH_TOPIC, 0)
        written = (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
        await producer.stop()

    assert watch.epoch is not None  # known after the first check, not a few checks later
    assert changes == [False] * 5
    assert forgotten == []
    assert written == 1  # one epoch claimed, not one per slow read
