"""A delivery worker that stalls past its lease (its process starved or paused: no heartbeat
runs) sends nothing more once it resumes: another worker has taken its rows over and sent
them. Only what it had already handed to the network before the stall goes out twice (under
the alert's tag, so the phone shows it once), and the new holder's outcome stands.

Runs the real workers, outbox, Web Push and push service, on a database of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from notify.delivery import DeliveryWorker
from notify.webpush import (
    PushMessage,
    PushResult,
    SenderLimits,
    Subscription,
    WebPushSender,
)
from tests.notify.delivery_support import TagComposer, push_rows, push_sender, queued_alert
from tests.notify.push_service import PushService
from tests.support import wait_until

RESIDENTS = 100  # more than a batch sends at once (64 per push service), so some wait
LEASE_S = 1.5


class _GatedSender:
    """Sends once ``gate`` opens: the worker's process stalls with these sends under way."""

    def __init__(self, sender: WebPushSender) -> None:
        self._sender = sender
        self.gate = asyncio.Event()
        self.under_way = 0

    async def send(self, subscription: Subscription, message: PushMessage) -> PushResult:
        self.under_way += 1
        await self.gate.wait()
        return await self._sender.send(subscription, message)


class _Stalled(DeliveryWorker):
    """A worker whose heartbeat never runs, as in a process that stopped being scheduled."""

    async def _hold(self, *_args: object) -> None:
        await asyncio.Event().wait()


@pytest.mark.timeout(60)
async def test_a_worker_that_stalled_past_its_lease_sends_nothing_more(
    own_pool: asyncpg.Pool,
    push_service: PushService,
    producer: AIOKafkaProducer,
    tmp_path: Path,
) -> None:
    pool, push = own_pool, push_service
    alert, endpoints = await queued_alert(pool, push, RESIDENTS)

    limits = SenderLimits()
    async with push_sender(tmp_path, limits) as sender:
        gated = _GatedSender(sender)
        stalled = _Stalled(pool, producer, gated, TagComposer(), lease_s=LEASE_S)  # type: ignore[arg-type]
        healthy = DeliveryWorker(pool, producer, sender, TagComposer(), lease_s=LEASE_S)
        first = asyncio.create_task(stalled.deliver_once())
        await wait_until(lambda: _true(gated.under_way == limits.max_per_origin), timeout_s=10)
        in_flight = gated.under_way  # handed over before the stall: these go out twice

        taken: list[int] = []  # once the lease has run out, the healthy worker takes all over

        async def all_taken() -> bool:
            taken.append(await healthy.deliver_once())
            return sum(taken) == RESIDENTS

        await wait_until(all_taken, timeout_s=20)
        gated.gate.set()  # the stalled process runs again
        assert await asyncio.wait_for(first, 20) == RESIDENTS

    received = [len(push.received(e)) for e in endpoints]
    assert min(received) == 1  # nobody missed
    assert sum(received) == RESIDENTS + in_flight  # only what was under way went out again
    tags = {json.loads(m.plaintext)["tag"] for e in endpoints for m in push.received(e)}
    assert tags == {str(alert.id)}
    rows = await push_rows(pool, alert.id)
    assert {(r["status"], r["attempts"], r["lease_token"]) for r in rows} == {
        ("delivered", 2, None)
    }


async def _true(value: bool) -> bool:
    return value


@pytest.mark.timeout(60)
async def test_outcomes_are_recorded_while_the_batch_is_still_being_sent(
    own_pool: asyncpg.Pool,
    push_service: PushService,
    producer: AIOKafkaProducer,
    tmp_path: Path,
) -> None:
    """One endpoint of a batch hangs: the others' rows are recorded delivered while it does,
    so a process killed then would send again only the hanging one, not the whole batch."""
    pool, push = own_pool, push_service
    alert, endpoints = await queued_alert(pool, push, RESIDENTS)
    push.hang(endpoints[0])

    async with push_sender(tmp_path, SenderLimits(timeout_s=30.0)) as sender:
        worker = DeliveryWorker(pool, producer, sender, TagComposer(), lease_s=LEASE_S * 10)
        batch = asyncio.create_task(worker.deliver_once())

        async def others_recorded() -> bool:
            statuses = [r["status"] for r in await push_rows(pool, alert.id)]
            return statuses.count("delivered") == RESIDENTS - 1

        await wait_until(others_recorded, timeout_s=20)
        assert not batch.done()  # still waiting on the hanging endpoint
        assert push.hanging == 1
        batch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await batch
    pending = [r for r in await push_rows(pool, alert.id) if r["status"] != "delivered"]
    assert [(r["status"], r["lease_token"] is not None) for r in pending] == [("pending", True)]
