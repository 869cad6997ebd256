"""The embedded broker is killed and restarted empty mid-run: nothing the system accepted is
lost, nothing is stored twice, and every targeted resident is told once.

Which guarantee this checks: the embedded broker keeps records in memory, so its restart loses
what it held; what the system itself accepted (incident reports over HTTP, alerts HQ issued) is
kept in Postgres (``ingress_outbox``) and published again, and the consumers read the new
broker from its start. Against a durable Kafka cluster nothing acknowledged is lost in the
first place, and this path never fires.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from disaster import operator_store
from disaster.embedded import EmbeddedKafka
from disaster.services import Running, running_services
from disaster.settings import load_settings
from tests.notify.push_service import PushService
from tests.support import seed_push_residents, square, wait_until


@pytest.fixture
async def own_broker(tmp_path: Path) -> AsyncIterator[EmbeddedKafka]:
    broker = EmbeddedKafka(tmp_path / "broker")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
async def service(
    own_broker: EmbeddedKafka, fresh_database: object, tmp_path: Path
) -> AsyncIterator[Running]:
    settings = load_settings(
        kafka=own_broker.bootstrap, database_url=await fresh_database(),  # type: ignore[operator]
        http_port=0, group_prefix=f"restart-{uuid.uuid4().hex[:6]}", state_dir=tmp_path / "state",
        rate_limits=False, push_allow_loopback=True,
    )  # fmt: skip
    async with running_services(settings, "all") as running:
        yield running


def _report(i: int) -> dict:
    # far apart (0.05° ≈ 5 km) so that no two merge into one incident
    place = {"lat": 10.0 + 0.05 * (i // 40), "lon": 10.0 + 0.05 * (i % 40)}
    return {"kind": "fire", "location": place,
            "severity": "medium", "description": f"report {i}", "reporter": {"role": "staff"},
            "report_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"restart-{i}"))}  # fmt: skip


async def _post_reports(http: aiohttp.ClientSession, numbers: range) -> None:
    for i in numbers:
        async with http.post("/api/v1/incidents", json=_report(i)) as resp:
            assert resp.status == 202, await resp.text()


async def _stored(pool: asyncpg.Pool) -> tuple[int, int]:
    async with pool.acquire() as conn:
        reports = await conn.fetchval("SELECT count(*) FROM incident_reports")
        incidents = await conn.fetchval("SELECT count(*) FROM incidents")
    return reports, incidents


async def _epoch_known(service: Running) -> bool:
    return service.watch is not None and service.watch.epoch is not None


async def test_reports_and_alerts_accepted_around_a_broker_restart_are_all_processed_once(
    service: Running, own_broker: EmbeddedKafka
) -> None:
    pool = service.pool
    async with pool.acquire() as conn:
        admin = await operator_store.add_operator(conn, "hq", "a long enough passphrase", "admin")
        token = await operator_store.create_api_token(conn, admin, "tests")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url=service.base_url, headers=headers) as http:
        residents = []
        for k in range(5):
            body = {"locations": {"home": {"lat": 40.002 + 0.001 * k, "lon": 140.002}}}
            async with http.post("/api/v1/subscribers", json=body) as resp:
                residents.append(uuid.UUID((await resp.json())["id"]))
        # Before: 60 reports stored, so the consumers' positions stand well past zero.
        await _post_reports(http, range(60))
        await wait_until(lambda: _stored_at_least(pool, 60), timeout_s=60)
        await wait_until(lambda: _epoch_known(service), timeout_s=10)

        own_broker.kill()
        # While the broker is down the API still accepts: Postgres keeps what it promised.
        await _post_reports(http, range(60, 100))
        draft_in = {"level": 4, "hazard": "flood", "area_name": "北地区",
                    "area": square(140.0, 40.0, 0.01).model_dump(mode="json"),
                    "headline": {"ja": "避難してください。"}}  # fmt: skip
        async with http.post("/api/v1/alerts/drafts", json=draft_in) as resp:
            alert_id = (await resp.json())["id"]
        for step in ("approve", "issue"):
            async with http.post(f"/api/v1/alerts/{alert_id}/{step}") as resp:
                assert resp.status == 200, await resp.text()

        await asyncio.to_thread(own_broker.restart)
        # After: more reports than the consumers had read before, so a consumer that kept
        # its old positions would skip some.
        await _post_reports(http, range(100, 200))
        await wait_until(lambda: _stored_at_least(pool, 200), timeout_s=120)

    assert await _stored(pool) == (200, 200)  # each report once, none merged, none lost
    async with pool.acquire() as conn:
        told = await conn.fetch(
            """SELECT subscriber_id, count(*) AS n FROM deliveries
               WHERE alert_id = $1 GROUP BY subscriber_id""",
            uuid.UUID(alert_id),
        )
    assert {r["subscriber_id"]: r["n"] for r in told} == dict.fromkeys(residents, 1)


async def _stored_at_least(pool: asyncpg.Pool, count: int) -> bool:
    return (await _stored(pool))[0] >= count


@pytest.fixture
async def push() -> AsyncIterator[PushService]:
    service = PushService()
    await service.start()
    yield service
    await service.close()


@pytest.mark.timeout(300)
async def test_a_fan_out_goes_on_while_the_broker_is_down_and_reaches_everyone_once(
    service: Running, own_broker: EmbeddedKafka, push: PushService
) -> None:
    residents = 3_000
    homes = [(41.001 + i % 40 * 2e-4, 141.001 + i // 40 * 2e-4) for i in range(residents)]
    endpoints = await seed_push_residents(service.pool, push, homes)
    async with service.pool.acquire() as conn:
        admin = await operator_store.add_operator(conn, "hq2", "a long enough passphrase", "admin")
        token = await operator_store.create_api_token(conn, admin, "tests")
    draft_in = {"level": 4, "hazard": "flood", "area_name": "東地区",
                "area": square(141.0, 41.0, 0.02).model_dump(mode="json"),
                "headline": {"ja": "避難してください。"}}  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url=service.base_url, headers=headers) as http:
        async with http.post("/api/v1/alerts/drafts", json=draft_in) as resp:
            alert_id = (await resp.json())["id"]
        for step in ("approve", "issue"):
            async with http.post(f"/api/v1/alerts/{alert_id}/{step}") as resp:
                assert resp.status == 200, await resp.text()

    await push.wait_until(lambda: push.reached >= 50, timeout_s=60)
    own_broker.kill()
    at_kill = push.reached
    # The outbox is in Postgres: the fan-out does not need the broker to go on.
    await push.wait_until(lambda: push.reached == residents, timeout_s=120)
    assert at_kill < residents, "the kill came too late to interrupt the fan-out"
    await asyncio.to_thread(own_broker.restart)
    await wait_until(lambda: _epoch_known(service), timeout_s=10)

    async def settled() -> bool:
        async with service.pool.acquire() as conn:
            return not await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE alert_id = $1 AND status <> 'delivered'",
                uuid.UUID(alert_id),
            )

    await wait_until(settled, timeout_s=60)
    assert all(len(push.received(e)) == 1 for e in endpoints)
