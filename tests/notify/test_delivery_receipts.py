"""Delivery receipts on the ``deliveries`` topic: published for every outcome, and never a
reason for a fan-out to wait while the broker is down (the outbox rows are the record).

Runs the real delivery worker, outbox, Web Push and push service, and the embedded broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from disaster import topics
from disaster._kafka import ensure_topics, new_producer
from disaster.embedded import EmbeddedKafka
from notify.delivery import DeliveryWorker
from tests.notify.delivery_support import TagComposer, push_rows, push_sender, queued_alert
from tests.notify.push_service import PushService
from tests.support import wait_until

RESIDENTS = 100
BATCH = 20  # five batches: before, each waited out the receipts timeout (5 s) with no broker


@asynccontextmanager
async def _worker(
    pool: asyncpg.Pool, producer: AIOKafkaProducer, tmp_path: Path
) -> AsyncIterator[DeliveryWorker]:
    async with push_sender(tmp_path) as sender:
        yield DeliveryWorker(pool, producer, sender, TagComposer(), batch=BATCH)


async def _deliver_all(worker: DeliveryWorker) -> int:
    total = 0
    while taken := await worker.deliver_once():
        total += taken
    return total


@pytest.mark.timeout(60)
async def test_every_outcome_is_published_as_a_receipt(
    own_pool: asyncpg.Pool,
    push_service: PushService,
    producer: AIOKafkaProducer,
    bootstrap: str,
    tmp_path: Path,
) -> None:
    await ensure_topics(bootstrap, topics.PARTITIONS, topics.COMPACTED)
    alert, _ = await queued_alert(own_pool, push_service, RESIDENTS)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        # as many as the broker has: another test's producer may have had it auto-created
        parts = [
            TopicPartition(topics.DELIVERIES, p)
            for p in await producer.partitions_for(topics.DELIVERIES)
        ]
        consumer.assign(parts)
        for tp, end in (await consumer.end_offsets(parts)).items():
            consumer.seek(tp, end)
        async with _worker(own_pool, producer, tmp_path) as worker:
            assert await _deliver_all(worker) == RESIDENTS
        seen: dict[str, dict] = {}

        async def all_seen() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    body = json.loads(record.value)
                    if body["alert_id"] == str(alert.id):
                        assert record.key.decode() == body["subscriber_id"]
                        seen[body["subscriber_id"]] = body
            return len(seen) == RESIDENTS

        await wait_until(all_seen, timeout_s=30)
    finally:
        await consumer.stop()
    rows = await push_rows(own_pool, alert.id)
    assert {str(r["subscriber_id"]) for r in rows} == seen.keys()
    assert {b["status"] for b in seen.values()} == {"delivered"}


@pytest.mark.timeout(60)
async def test_a_fan_out_does_not_wait_for_receipts_while_the_broker_is_down(
    own_pool: asyncpg.Pool, push_service: PushService, own_broker: EmbeddedKafka, tmp_path: Path
) -> None:
    await ensure_topics(own_broker.bootstrap, topics.PARTITIONS, topics.COMPACTED)
    producer = new_producer(own_broker.bootstrap)
    await producer.start()
    try:
        alert, endpoints = await queued_alert(own_pool, push_service, RESIDENTS)
        own_broker.kill()
        async with _worker(own_pool, producer, tmp_path) as worker:
            # five batches; waiting out each one's receipts would take 25 s
            assert await asyncio.wait_for(_deliver_all(worker), 10.0) == RESIDENTS
    finally:
        own_broker.restart()
        await producer.stop()
    assert all(len(push_service.received(e)) == 1 for e in endpoints)
    assert {r["status"] for r in await push_rows(own_pool, alert.id)} == {"delivered"}
