"""Kill the ingest process mid-stream, start it again: every reading stored once, no event lost
or doubled. Runs on its own broker and database so nothing else consumes the stream."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from disaster import store, topics
from disaster._kafka import encode_json, ensure_topics, new_producer
from disaster._pg import create_pool
from disaster.domain import RiverStage, Thresholds
from disaster.domain.river import StationState, evaluate_reading
from disaster.embedded import EmbeddedKafka
from disaster.services import migrate
from tests.support import make_station, square, wait_until

READINGS = 4000
PACE = 800  # readings per second: the stream lasts about 5 s
T0 = datetime(2026, 6, 3, tzinfo=UTC)


def _levels() -> list[float]:
    """A sawtooth crossing every threshold up and down, again and again."""
    return [round(1.0 + (i % 100) * 0.04 if (i // 100) % 2 == 0 else 5.0 - (i % 100) * 0.04, 3)
            for i in range(READINGS)]  # fmt: skip


def _expected_changes(levels: list[float], thresholds: Thresholds) -> list[tuple[int, int]]:
    state, changes = StationState(), []
    for level in levels:
        state, change = evaluate_reading(
            state,
            level,
            [],
            thresholds,
            hysteresis_m=0.1,
            horizon_min=0,
        )
        if change is not None:
            changes.append((int(change.stage), int(change.previous)))
    return changes


async def _start_ingest(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "disaster", "serve", "--role", "ingest", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def _stored(pool: asyncpg.Pool, station_id: str) -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM river_readings WHERE station_id = $1", station_id
            )
        )


async def _produce_all(
    bootstrap: str, pool: asyncpg.Pool, station_id: str, levels: list[float]
) -> None:
    """Send the readings at about PACE per second, so the stream is still flowing at the kill;
    after the first slice, wait for the ingest process to store it (its start-up takes longer
    than the whole stream would)."""
    producer = new_producer(bootstrap)
    await producer.start()
    try:
        for i, level in enumerate(levels):
            at = (T0 + timedelta(minutes=10 * i)).isoformat()
            body = {"station_id": station_id, "level_m": level, "observed_at": at}
            await producer.send(topics.RIVER_RAW, encode_json(body), key=station_id.encode())
            if i % 100 == 99:
                await producer.flush()
                await asyncio.sleep(100 / PACE)
            if i == 99:
                await wait_until(lambda: _over(pool, station_id, 1), timeout_s=120)
        await producer.flush()
    finally:
        await producer.stop()


async def _stage_changes(pool: asyncpg.Pool, station_id: str) -> list[tuple[int, int]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT body FROM hazard_events WHERE source_id = $1 ORDER BY observed_at", station_id
        )
    return [(r["body"]["stage"], r["body"]["previous_stage"]) for r in rows]


async def _kill_midway_and_resume(
    env: dict[str, str], pool: asyncpg.Pool, station_id: str, produced: asyncio.Task[None]
) -> int:
    """Return how many readings were stored when the first process was killed."""
    first = await _start_ingest(env)
    try:
        await wait_until(lambda: _over(pool, station_id, READINGS // 4), timeout_s=120)
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    killed_at = await _stored(pool, station_id)
    second = await _start_ingest(env)
    try:
        await produced
        await wait_until(lambda: _over(pool, station_id, READINGS), timeout_s=180)
    finally:
        second.send_signal(signal.SIGTERM)
        await second.wait()
    return killed_at


async def _over(pool: asyncpg.Pool, station_id: str, count: int) -> bool:
    return await _stored(pool, station_id) >= count


@pytest.mark.timeout(300)
async def test_a_killed_ingestor_resumes_without_loss_or_duplicates(
    fresh_database: object, tmp_path: Path
) -> None:
    broker = EmbeddedKafka(tmp_path / "broker")
    bootstrap = broker.start()
    url = await fresh_database()  # type: ignore[operator]
    station = make_station(square(139.0, 35.0))
    await migrate(url)
    pool = await create_pool(url)
    try:
        async with pool.acquire() as conn:
            await store.upsert_station(conn, station)
        await ensure_topics(bootstrap, topics.PARTITIONS, topics.COMPACTED)
        levels = _levels()
        produced = asyncio.create_task(_produce_all(bootstrap, pool, station.id, levels))
        env = {**os.environ, "DISASTER_KAFKA": bootstrap, "DISASTER_DATABASE_URL": url,
               "DISASTER_GROUP_PREFIX": f"crash-{uuid.uuid4().hex[:6]}",
               "DISASTER_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
        killed_at = await _kill_midway_and_resume(env, pool, station.id, produced)
        assert killed_at < READINGS, "the kill came too late to interrupt the stream"
        assert await _stored(pool, station.id) == READINGS
        got = await _stage_changes(pool, station.id)
    finally:
        await pool.close()
        broker.stop()
    expected = _expected_changes(levels, station.thresholds)
    assert len(expected) == 80  # 20 rises through all four stages
    assert got == expected
    assert RiverStage.DANGER in {stage for stage, _ in got}
