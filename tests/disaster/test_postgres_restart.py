"""Postgres crashes (immediate stop) while readings and incident reports stream in, and comes
back: ``/healthz`` says degraded (naming the database) while it is away, the consumers retry
rather than skip (offsets are committed only after storing), and once it is back everything
sent is stored exactly once, every worker is still alive, the alert and dashboard listeners
listen again, and ``/healthz`` is ok.

Runs on a private Postgres server (so the shared one other tests use is never stopped) and its
own embedded broker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from disaster import store, topics
from disaster._kafka import encode_json, new_producer
from disaster.domain import Alert, AlertLevel
from disaster.embedded import EmbeddedKafka
from disaster.services import Running, running_services
from disaster.settings import load_settings
from tests.postgres_server import PostgresServer
from tests.support import make_station, square, wait_until

READINGS = 3000
REPORTS = 300
T0 = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.fixture
async def postgres() -> AsyncIterator[PostgresServer]:
    server = PostgresServer()
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.remove)


@pytest.fixture
def broker(own_broker: EmbeddedKafka) -> EmbeddedKafka:
    return own_broker


@pytest.fixture
async def service(
    postgres: PostgresServer, broker: EmbeddedKafka, tmp_path: Path
) -> AsyncIterator[Running]:
    settings = load_settings(
        kafka=broker.bootstrap, database_url=postgres.url, http_port=0,
        group_prefix=f"pg-restart-{uuid.uuid4().hex[:6]}", state_dir=tmp_path / "state",
        rate_limits=False, sensor_watch_period_s=0.5,
    )  # fmt: skip
    async with running_services(settings, "all") as running:
        yield running


class _Stream:
    """Sends readings and incident reports at a steady pace, counting what the broker took;
    after the first fifth it waits for ``go_on`` (so the rest is sent during the outage)."""

    def __init__(self, producer: AIOKafkaProducer, station_id: str) -> None:
        self._producer = producer
        self._station_id = station_id
        self.sent = 0
        self.go_on = asyncio.Event()

    async def has_sent(self, count: int) -> bool:
        return self.sent >= count

    async def run(self) -> None:
        for i in range(READINGS):
            if i == READINGS // 5:
                await self.go_on.wait()
            at = (T0 + timedelta(minutes=i)).isoformat()
            body = {"station_id": self._station_id, "level_m": 1.0 + i % 7 * 0.1, "observed_at": at}
            await self._producer.send(
                topics.RIVER_RAW, encode_json(body), key=self._station_id.encode()
            )
            if i % 10 == 0:
                report = _report(i // 10)
                await self._producer.send(topics.INCIDENT_RAW, encode_json(report))
            if i % 100 == 99:
                await self._producer.flush()
                self.sent = i + 1
                await asyncio.sleep(0.1)  # about 1,000 readings/s: the stream spans the outage
        await self._producer.flush()
        self.sent = READINGS


def _report(i: int) -> dict:
    place = {"lat": 20.0 + 0.05 * (i // 20), "lon": 20.0 + 0.05 * (i % 20)}  # none merge
    return {"action": "report", "kind": "fire", "location": place, "severity": "medium",
            "description": f"report {i}", "reporter": {"role": "staff"},
            "report_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"pg-restart-{i}"))}  # fmt: skip


async def _stored(pool: asyncpg.Pool, station_id: str) -> tuple[int, int, int]:
    """Readings, distinct reading times, incident reports."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT count(*), count(DISTINCT observed_at) FROM river_readings
               WHERE station_id = $1""",
            station_id,
        )
        reports = await conn.fetchval("SELECT count(*) FROM incident_reports")
    return row[0], row[1], reports


async def _health(http: aiohttp.ClientSession) -> tuple[int, dict]:
    async with http.get("/healthz") as resp:
        return resp.status, await resp.json()


async def _read_stored(pool: asyncpg.Pool, station_id: str, at_least: int) -> bool:
    try:
        return (await _stored(pool, station_id))[0] >= at_least
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False


@pytest.mark.timeout(150)
async def test_a_postgres_crash_pauses_work_shows_degraded_and_loses_nothing(
    service: Running, postgres: PostgresServer, broker: EmbeddedKafka
) -> None:
    pool = service.pool
    station = make_station(square(139.0, 35.0))
    async with pool.acquire() as conn:
        await store.upsert_station(conn, station)
    producer = new_producer(broker.bootstrap)
    await producer.start()
    stream = _Stream(producer, station.id)
    async with aiohttp.ClientSession(base_url=service.base_url) as http:
        assert (await _health(http))[0] == 200
        sending = asyncio.create_task(stream.run())
        try:
            await wait_until(lambda: _read_stored(pool, station.id, READINGS // 5), timeout_s=60)
            await asyncio.to_thread(postgres.stop, "immediate")
            sent_at_crash = stream.sent
            stream.go_on.set()

            status, body = await wait_until(lambda: _degraded(http), timeout_s=20)
            assert status == 503
            assert body["status"] == "degraded"
            assert "database" in body["failing"]
            assert "unreachable" in body["components"]["database"]["problem"]
            assert body["components"]["broker"] == {"status": "ok"}
            # The ingestors keep consuming the stream and fail to store it: they retry it.
            await wait_until(lambda: stream.has_sent(sent_at_crash + 500), timeout_s=30)
            river = f"consumer {topics.RIVER_RAW}"
            await wait_until(lambda: _failing(http, river), timeout_s=20)

            await asyncio.to_thread(postgres.start)
            await sending
            await wait_until(lambda: _read_stored(pool, station.id, READINGS), timeout_s=60)
            await wait_until(lambda: _reports_at_least(pool, REPORTS), timeout_s=60)
            status, body = await wait_until(lambda: _healthy(http), timeout_s=30)
            assert body["failing"] == []
            assert {"alert stream listener", "dashboard listener", river} <= set(body["components"])
            await _an_alert_reaches_the_stream(http, pool)
        finally:
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
            await producer.stop()

    assert await _stored(pool, station.id) == (READINGS, READINGS, REPORTS)
    died = [t.get_name() for t in service.tasks if t.done()]
    assert died == []  # no consumer, publisher, watch or delivery worker gave up


async def _degraded(http: aiohttp.ClientSession) -> tuple[int, dict] | None:
    status, body = await _health(http)
    return (status, body) if status == 503 else None


async def _healthy(http: aiohttp.ClientSession) -> tuple[int, dict] | None:
    status, body = await _health(http)
    return (status, body) if status == 200 else None


async def _failing(http: aiohttp.ClientSession, component: str) -> bool:
    return component in (await _health(http))[1]["failing"]


async def _reports_at_least(pool: asyncpg.Pool, count: int) -> bool:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM incident_reports") >= count


async def _an_alert_reaches_the_stream(http: aiohttp.ClientSession, pool: asyncpg.Pool) -> None:
    """The event stream's listener is a new connection now: an alert issued still arrives."""
    alert = Alert(id=uuid.uuid4(), level=AlertLevel.EVACUATE, hazard="flood", area_name="北地区",
                  area=square(139.0, 35.0), headline={"ja": "避難"},
                  issued_at=datetime.now(UTC))  # fmt: skip
    async with http.get("/api/v1/stream") as resp:
        assert await asyncio.wait_for(resp.content.readline(), 10) == b"retry: 2000\n"
        assert await asyncio.wait_for(resp.content.readline(), 10) == b": connected\n"
        async with pool.acquire() as conn:
            await store.insert_alert(conn, alert)

        async def next_line() -> bytes:
            return await resp.content.readline()

        async with asyncio.timeout(20):
            while not (line := await next_line()).startswith(b"id: "):
                pass
    assert line.decode().strip() == f"id: {alert.id}"
