"""Two ingest and two notify processes (``disaster serve --role ...``, one group prefix) share
the partitions; SIGKILL one of each and the other takes its partitions over: every reading sent
is stored once, every targeted resident gets each alert once.

Runs on a broker, a database and consumer groups of its own (new groups read each topic from
its start: on the session's broker those would be every earlier test's records). Each kill
lands between records the dead process finished (the ingest kill may land mid-batch: its
uncommitted records are replayed by the survivor and stored once); a kill in the middle of a
push fan-out is the notifier crash test's subject.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from disaster import store, topics
from disaster._kafka import encode_json, new_producer
from disaster.domain import Alert, AlertLevel
from disaster.embedded import EmbeddedKafka
from tests.notify.push_service import PushService
from tests.support import make_station, seed_push_residents, square, wait_until

RESIDENTS = 300
PER_STATION = 200
STATIONS_PER_PARTITION = 3
T0 = datetime(2026, 8, 1, tzinfo=UTC)


def _keys_on_every_partition(topic: str, per_partition: int, make: object) -> list[str]:
    """Keys (made by ``make()``) that land ``per_partition`` times on each of the partitions."""
    partitions = list(range(topics.PARTITIONS[topic]))
    found: dict[int, list[str]] = {p: [] for p in partitions}
    while any(len(keys) < per_partition for keys in found.values()):
        key = str(make())  # type: ignore[operator]
        chosen = found[DefaultPartitioner()(key.encode(), partitions, partitions)]
        if len(chosen) < per_partition:
            chosen.append(key)
    return [key for keys in found.values() for key in keys]


async def _members(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_consumer_groups([group])
        return sum(len(g[5]) for g in described.groups if g[2] == "Stable")
    finally:
        await admin.close()


class _Processes:
    """The role processes, started with one environment; stderr kept for a failure's report."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self._env = env
        self._logs = logs
        self.procs: dict[str, asyncio.subprocess.Process] = {}

    async def start(self, name: str, role: str) -> None:
        with (self._logs / f"{name}.log").open("wb") as log:
            self.procs[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "disaster", "serve", "--role", role, env=self._env,
                stdout=asyncio.subprocess.DEVNULL, stderr=log,
            )  # fmt: skip

    async def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _seed_residents(pool: asyncpg.Pool, push: PushService) -> list[str]:
    homes = [(36.005 + i % 20 * 1e-4, 138.005 + i // 20 * 1e-4) for i in range(RESIDENTS)]
    return await seed_push_residents(pool, push, homes)


async def _send_readings(producer: AIOKafkaProducer, stations: list[str], steps: range) -> None:
    for i in steps:  # below every threshold: no stage change, so no alert of their own
        at = (T0 + timedelta(minutes=10 * i)).isoformat()
        for station_id in stations:
            body = {"station_id": station_id, "level_m": 1.0 + i % 5 * 0.1, "observed_at": at}
            await producer.send(topics.RIVER_RAW, encode_json(body), key=station_id.encode())
    await producer.flush()


async def _readings(pool: asyncpg.Pool, stations: list[str]) -> tuple[int, int]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT count(*), count(DISTINCT (station_id, observed_at)) FROM river_readings
               WHERE station_id = ANY($1::text[])""",
            stations,
        )
    return row[0], row[1]


async def _issue(pool: asyncpg.Pool, producer: AIOKafkaProducer, alert_id: str) -> Alert:
    alert = Alert(id=uuid.UUID(alert_id), level=AlertLevel.EVACUATE, hazard="flood",
                  area_name="東地区", area=square(138.0, 36.0, 0.02), headline={"ja": "避難指示"},
                  issued_at=datetime.now(UTC))  # fmt: skip
    async with pool.acquire() as conn:
        await store.insert_alert(conn, alert)
    await producer.send_and_wait(
        topics.ALERTS, encode_json(alert.to_json_dict()), key=alert_id.encode()
    )
    return alert


@pytest.mark.timeout(150)
async def test_two_of_each_role_share_partitions_and_a_killed_one_hands_over(
    own_database: str,
    own_pool: asyncpg.Pool,
    push_service: PushService,
    own_broker: EmbeddedKafka,
    tmp_path: Path,
) -> None:
    database_url, pool, push = own_database, own_pool, push_service
    bootstrap = own_broker.bootstrap
    prefix = f"scale-{uuid.uuid4().hex[:6]}"
    stations = _keys_on_every_partition(
        topics.RIVER_RAW, STATIONS_PER_PARTITION, lambda: f"scale-{uuid.uuid4().hex[:8]}"
    )
    async with pool.acquire() as conn:
        for station_id in stations:
            await store.upsert_station(
                conn, make_station(square(150.0, 20.0), station_id=station_id)
            )
    endpoints = await _seed_residents(pool, push)
    env = {**os.environ, "DISASTER_KAFKA": bootstrap, "DISASTER_DATABASE_URL": database_url,
           "DISASTER_GROUP_PREFIX": prefix, "DISASTER_STATE_DIR": str(tmp_path / "state"),
           "DISASTER_PUSH_ALLOW_LOOPBACK": "true"}  # fmt: skip
    roles = _Processes(env, tmp_path)
    producer = new_producer(bootstrap)
    await producer.start()
    try:
        for name in ("ingest-a", "ingest-b", "notify-a", "notify-b"):
            await roles.start(name, name.split("-")[0])
        for group in (f"{prefix}.ingest.river", f"{prefix}.notify"):
            await wait_until(lambda g=group: _has_members(bootstrap, g, 2), timeout_s=60)

        total = PER_STATION * len(stations)
        await _send_readings(producer, stations, range(PER_STATION // 2))
        await wait_until(lambda: _stored_at_least(pool, stations, total // 4), timeout_s=30)
        await roles.kill("ingest-a")
        await _send_readings(producer, stations, range(PER_STATION // 2, PER_STATION))
        await wait_until(lambda: _stored_at_least(pool, stations, total), timeout_s=60)
        assert await _readings(pool, stations) == (total, total)  # each reading stored once
        assert await _members(bootstrap, f"{prefix}.ingest.river") == 1

        alert_ids = _keys_on_every_partition(topics.ALERTS, 1, uuid.uuid4)
        first = await _issue(pool, producer, str(uuid.uuid4()))  # both notifiers at work
        await push.wait_until(lambda: _everyone_has(push, endpoints, 1), timeout_s=60)
        # Killed between fan-outs, once the first is settled: a push sent but not yet settled
        # when a process dies is sent again under the same tag (Web Push has no idempotency
        # key); tests/notify/test_notifier_crash.py covers a kill in the middle of a fan-out.
        await wait_until(lambda: _settled(pool, first.id), timeout_s=30)
        await roles.kill("notify-a")
        later = [await _issue(pool, producer, a) for a in alert_ids]  # one on every partition
        await push.wait_until(lambda: _everyone_has(push, endpoints, 4), timeout_s=60)
        assert await _members(bootstrap, f"{prefix}.notify") == 1
    finally:
        await producer.stop()
        await roles.stop_all()

    tags = [sorted(json.loads(m.plaintext)["tag"] for m in push.received(e)) for e in endpoints]
    expected = sorted(str(a.id) for a in (first, *later))
    wrong = [(e, t) for e, t in zip(endpoints, tags, strict=True) if t != expected]
    # every resident got each alert exactly once; if not, say who got what and how it was sent
    assert not wrong, (len(wrong), wrong[:3], expected, await _attempts(pool))


async def _attempts(pool: asyncpg.Pool) -> list[tuple[str, str, int, int]]:
    """(alert, status, attempts, rows) of the push outbox: more than one attempt is a resend."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT alert_id, status, attempts, count(*) FROM deliveries
               WHERE channel <> 'inbox' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
        )
    return [(str(r[0]), r[1], r[2], r[3]) for r in rows]


async def _settled(pool: asyncpg.Pool, alert_id: uuid.UUID) -> bool:
    """Every resident's push of the alert is written and delivered (push channels are named
    ``push:<id>``; an earlier ``channel = 'push'`` matched nothing, so the kill could land in
    the middle of the fan-out and its in-flight pushes went out twice)."""
    async with pool.acquire() as conn:
        delivered, total = await conn.fetchrow(
            """SELECT count(*) FILTER (WHERE status = 'delivered'), count(*) FROM deliveries
               WHERE alert_id = $1 AND channel <> 'inbox'""",
            alert_id,
        )
    return delivered == total == RESIDENTS


async def _has_members(bootstrap: str, group: str, count: int) -> bool:
    return await _members(bootstrap, group) == count


async def _stored_at_least(pool: asyncpg.Pool, stations: list[str], count: int) -> bool:
    return (await _readings(pool, stations))[0] >= count


def _everyone_has(push: PushService, endpoints: list[str], count: int) -> bool:
    return all(len(push.received(e)) >= count for e in endpoints)
