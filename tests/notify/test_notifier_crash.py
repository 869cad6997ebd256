"""Kill the notifier with SIGKILL in the middle of a fan-out, start it again: every resident is
reached, each outbox row is settled once, and what was in flight at the kill is resent under
the same notification tag (so the phone replaces it rather than showing it twice).

Runs on its own broker and database, with a real push service that verifies every message's
VAPID header and decrypts those of one resident in ``SAMPLE`` (the others' ``aes128gcm``
header is checked): decrypting all 50,000 cost the test process as much as the notifier.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from disaster import store, topics
from disaster._kafka import encode_json, ensure_topics, new_producer
from disaster._pg import create_pool
from disaster.domain import Alert, AlertLevel
from disaster.embedded import EmbeddedKafka
from disaster.services import migrate
from notify.webpush import topic_for
from tests.notify.push_service import PushService
from tests.support import seed_push_residents, square, wait_until

RESIDENTS = 50_000
WORKERS = 4
#: The most a killed process can have sent and not recorded: per worker, a chunk waiting and
#: one being recorded (notify/delivery.py records outcomes 50 at a time, or every 0.2 s), and
#: the requests the push service accepted but whose answers were not read (64 per origin).
IN_FLIGHT = WORKERS * 2 * 50 + 64
_SIDE = 224  # residents on a 224 x 224 grid, 8e-5° (about 8 m) apart, inside the 0.02° area
_STEP = 8e-5
SAMPLE = 25


async def _seed(pool: asyncpg.Pool, service: PushService) -> list[str]:
    """Register residents inside the area, each with a push subscription; return endpoints."""
    homes = [(35.001 + i % _SIDE * _STEP, 139.001 + i // _SIDE * _STEP) for i in range(RESIDENTS)]
    return await seed_push_residents(pool, service, homes)


async def _start_notifier(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "disaster", "serve", "--role", "notify", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def _settled(pool: asyncpg.Pool, alert_id: uuid.UUID) -> bool:
    async with pool.acquire() as conn:
        pending = await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE alert_id = $1 AND status <> 'delivered'",
            alert_id,
        )
        total = await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE alert_id = $1 AND channel <> 'inbox'", alert_id
        )
    return total == RESIDENTS and pending == 0


@pytest.mark.timeout(300)
async def test_a_killed_notifier_resumes_and_reaches_everyone(
    fresh_database: object, tmp_path: Path
) -> None:
    broker = EmbeddedKafka(tmp_path / "broker")
    bootstrap = broker.start()
    url = await fresh_database()  # type: ignore[operator]
    await migrate(url)
    pool = await create_pool(url)
    service = PushService(decrypt_one_in=SAMPLE)
    await service.start()
    producer = new_producer(bootstrap)
    try:
        await ensure_topics(bootstrap, topics.PARTITIONS, topics.COMPACTED)
        await producer.start()
        endpoints = await _seed(pool, service)
        alert = Alert(id=uuid.uuid4(), level=AlertLevel.EMERGENCY, hazard="flood",
                      area_name="新川流域", area=square(139.0, 35.0, 0.02),
                      headline={"ja": "緊急安全確保"}, issued_at=datetime.now(UTC))  # fmt: skip
        async with pool.acquire() as conn:
            await store.insert_alert(conn, alert)
        env = {**os.environ, "DISASTER_KAFKA": bootstrap, "DISASTER_DATABASE_URL": url,
               "DISASTER_GROUP_PREFIX": f"crash-{uuid.uuid4().hex[:6]}",
               "DISASTER_STATE_DIR": str(tmp_path / "state"),
               "DISASTER_PUSH_ALLOW_LOOPBACK": "true",
               "DISASTER_DELIVERY_WORKERS": str(WORKERS)}  # fmt: skip

        first = await _start_notifier(env)
        try:
            await producer.send_and_wait(
                topics.ALERTS, encode_json(alert.to_json_dict()), key=str(alert.id).encode()
            )
            await service.wait_until(lambda: service.reached >= RESIDENTS // 5, timeout_s=120)
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        at_kill = service.reached
        assert at_kill < RESIDENTS, "the kill came too late to interrupt the fan-out"

        second = await _start_notifier(env)
        try:
            await service.wait_until(lambda: service.reached == RESIDENTS, timeout_s=180)
            await wait_until(lambda: _settled(pool, alert.id), timeout_s=120)
        finally:
            second.send_signal(signal.SIGTERM)
            await second.wait()
    finally:
        await producer.stop()
        await service.close()
        await pool.close()
        broker.stop()

    counts = Counter(len(service.received(e)) for e in endpoints)
    assert counts[0] == 0  # nobody missed
    twice = sum(n for times, n in counts.items() if times > 1)
    print(f"sent again after the kill: {twice}")
    assert twice <= IN_FLIGHT  # only what was in flight at the kill went out again
    received = [m for e in endpoints for m in service.received(e)]
    tags = {json.loads(m.plaintext)["tag"] for m in received if m.plaintext is not None}
    assert tags == {str(alert.id)}  # ... under one tag: the phone shows it once
    assert sum(m.plaintext is not None for m in received) >= RESIDENTS // SAMPLE
    assert {m.topic for m in received} == {topic_for(alert.area_name)}  # and collapses
