"""Ingest throughput and produce-to-stored latency, next to a bare aiokafka consume loop.

A mixed load (river readings and sensor readings, 60/40) is produced through the embedded
broker, first as a burst as fast as one producer can (throughput: until all is stored), then
paced at ``--rate`` records per second (latency: produce time to the row in Postgres), while
the ingest role stores it. The producer runs in its own process, as real sources do. The peer is a
bare aiokafka consumer reading the same records in the same run: the ratio says how much of
the broker's read rate the ingest path keeps.

Run from the repository root: ``python -m bench.ingest [--quick]``. Uses
``DISASTER_DATABASE_URL`` or the Postgres on 127.0.0.1:5432, creating and dropping its own
database. The consumers join their groups on a warm-up batch before the clock starts.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import multiprocessing
import os
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import numpy as np
from aiokafka import AIOKafkaConsumer

from bench.ingest.load import STATIONS, produce, produce_in_child, records
from disaster import store, topics
from disaster._kafka import ensure_topics
from disaster.embedded import EmbeddedKafka
from disaster.services import running_services
from disaster.settings import load_settings
from tests.support import make_station, square, with_database


async def _produce_elsewhere(bootstrap: str, count: int, rate: float | None = None) -> float:
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)
    try:
        return await loop.run_in_executor(pool, produce_in_child, bootstrap, count, rate)
    finally:  # joining the child blocks: off the event loop, where the ingest path runs
        await asyncio.to_thread(pool.shutdown)


async def _wait_stored(pool: asyncpg.Pool, count: int) -> None:
    while True:
        async with pool.acquire() as conn:
            n = await conn.fetchval(
                """SELECT (SELECT count(*) FROM river_readings)
                        + (SELECT count(*) FROM sensor_readings)"""
            )
        if n >= count:
            return
        await asyncio.sleep(0.05)


async def _latencies_ms(pool: asyncpg.Pool) -> np.ndarray:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT extract(epoch FROM received_at - observed_at) * 1000 AS ms FROM river_readings
               UNION ALL
               SELECT extract(epoch FROM received_at - observed_at) * 1000 FROM sensor_readings"""
        )
    return np.array([float(r["ms"]) for r in rows])


async def _bare_consume(bootstrap: str, count: int) -> float:
    """The peer: read the same records with a bare consumer; return records per second."""
    consumer = AIOKafkaConsumer(
        topics.RIVER_RAW, topics.SENSOR_RAW, bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{uuid.uuid4().hex}", auto_offset_reset="earliest",
    )  # fmt: skip
    await consumer.start()
    first = await consumer.getmany(timeout_ms=0)  # joins the group before the clock starts
    seen = already = sum(len(r) for r in first.values())
    start = time.perf_counter()
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            seen += sum(len(r) for r in batches.values())
    finally:
        await consumer.stop()
    return (seen - already) / (time.perf_counter() - start)


async def _clear(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE river_readings, sensor_readings")


async def main(count: int, rate: float) -> None:
    server = os.environ.get("DISASTER_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    broker = EmbeddedKafka(Path(tempfile.mkdtemp(prefix="bench-broker-")))
    bootstrap = broker.start()
    try:
        await ensure_topics(bootstrap, topics.PARTITIONS, topics.COMPACTED)
        settings = load_settings(
            kafka=bootstrap,
            database_url=with_database(server, name),
            http_port=0,
            group_prefix=f"bench-{uuid.uuid4().hex[:6]}",
        )
        async with running_services(settings, "ingest") as running:
            async with running.pool.acquire() as conn:
                for i in range(STATIONS):
                    station = make_station(square(139.0, 35.0), station_id=f"bench-{i}")
                    await store.upsert_station(conn, station)
            await produce(bootstrap, records(10))  # warm-up: groups joined, caches filled
            await _wait_stored(running.pool, 10)
            start = time.perf_counter()
            produce_s = await _produce_elsewhere(bootstrap, count)
            await _wait_stored(running.pool, count + 10)
            total_s = time.perf_counter() - start
            await _clear(running.pool)
            await _produce_elsewhere(bootstrap, count, rate)
            await _wait_stored(running.pool, count)
            latency = await _latencies_ms(running.pool)
        bare = await _bare_consume(bootstrap, 2 * count + 10)
    finally:
        broker.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    throughput = count / total_s
    print(f"burst of {count} records: produced in {produce_s:.1f} s, stored after {total_s:.1f} s")
    print(f"then {count} records paced at {rate:.0f}/s for the latency figures")
    print(f"bench: ingest_throughput = {throughput:.0f} events/s")
    print(f"bench: ingest_latency_p50_at_{rate:.0f}_per_s = {np.percentile(latency, 50):.0f} ms")
    print(f"bench: ingest_latency_p99_at_{rate:.0f}_per_s = {np.percentile(latency, 99):.0f} ms")
    print(f"bench: bare_consume_throughput = {bare:.0f} events/s")
    print(f"bench: ingest_to_bare_ratio = {throughput / bare:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5,000 records instead of 100,000")
    parser.add_argument("--rate", type=float, default=10_000, help="paced load, records/s")
    args = parser.parse_args()
    asyncio.run(main(5_000 if args.quick else 100_000, args.rate))
