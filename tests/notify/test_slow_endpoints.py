"""One push endpoint that hangs and one that answers 500 among healthy ones, through the whole
notify path of the running service: the healthy ones are all delivered before the hanging
request's timeout could have passed, and the failing one is retried with a growing wait until
it recovers. (The sender's own bounds are tested in ``test_webpush.py``.)"""

from __future__ import annotations

import time
import uuid

import aiohttp
import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from notify.webpush import SenderLimits
from tests.notify.push_service import PushService
from tests.notify.test_delivery_flow import _alert, _area, _issue, _resident
from tests.support import wait_until

HEALTHY = 60


@pytest.fixture
def service(push_service: PushService) -> PushService:
    return push_service


async def _row(pool: asyncpg.Pool, alert_id: uuid.UUID, subscriber_id: str) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await conn.fetchrow(
            """SELECT status, attempts, last_error FROM deliveries
               WHERE alert_id = $1 AND subscriber_id = $2 AND channel <> 'inbox'""",
            alert_id, uuid.UUID(subscriber_id),
        )  # fmt: skip


@pytest.mark.timeout(90)
async def test_a_hanging_and_a_failing_endpoint_do_not_hold_up_the_healthy_ones(
    http: aiohttp.ClientSession, service: PushService, pool: asyncpg.Pool,
    producer: AIOKafkaProducer,
) -> None:  # fmt: skip
    lon, lat = _area()
    places = [(lon + 0.001 + 0.0002 * (i % 20), lat + 0.001 + 0.0002 * (i // 20))
              for i in range(HEALTHY + 2)]  # fmt: skip
    residents = [await _resident(http, service, x, y) for x, y in places]
    (_, stuck), (failing_id, failing), *healthy = residents
    service.hang(stuck)
    service.answer(failing, 500)
    alert = _alert(lon, lat)
    issued = time.monotonic()
    await _issue(pool, producer, alert)

    await service.wait_until(
        lambda: service.hanging == 1 and all(service.received(e) for _, e in healthy), 30
    )
    assert time.monotonic() - issued < SenderLimits().timeout_s  # not held by the hang
    assert service.hanging == 1  # ... which is still waiting
    assert service.received(stuck) == []

    token = failing.rsplit("/", 1)[1]
    answered_at: list[float] = []

    async def answered(times: int) -> bool:
        if service.answered.count((token, 500)) >= times > len(answered_at):
            answered_at.append(time.monotonic())
        return len(answered_at) >= times

    await wait_until(lambda: answered(1), timeout_s=30, interval_s=0.05)
    await wait_until(lambda: answered(2), timeout_s=60, interval_s=0.05)
    assert answered_at[1] - answered_at[0] >= 1.5  # backoff_s(1): 2 s ± 20 %
    row = await _row(pool, alert.id, failing_id)
    assert (row["status"], row["attempts"] >= 1) == ("pending", True)
    assert "500" in row["last_error"]

    service.recover(failing)
    await service.wait_until(lambda: len(service.received(failing)) == 1, 60)
    await wait_until(lambda: _status_is(pool, alert.id, failing_id, "delivered"), timeout_s=30)
    assert all(len(service.received(e)) == 1 for _, e in healthy)  # each once


async def _status_is(pool: asyncpg.Pool, alert_id: uuid.UUID, who: str, status: str) -> bool:
    return (await _row(pool, alert_id, who))["status"] == status
