"""Incident report to dashboard: POST /api/v1/incidents until the incident arrives on the SSE
stream a logged-in dashboard holds open (issue 6: "appearing within a second").

The whole path runs: the API keeps the report in the ingress outbox, the publisher (woken by
NOTIFY) sends it to ``incident.raw``, the incident ingestor stores it, a trigger NOTIFYs the
dashboard channel, the web process coalesces for 100 ms and writes the event. The peer is the
service's own floor for the same trip without Kafka: the time from the POST to the row of the
outbox being published, i.e. what the broker hop adds is the difference.

Run from the repository root: ``python -m bench.dashboard [--reports 200]``. Uses
``DISASTER_DATABASE_URL`` or the Postgres on 127.0.0.1:5432 (own database, dropped at the end)
and its own embedded broker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import numpy as np
from aiokafka import AIOKafkaConsumer

from disaster import operator_store
from disaster._kafka import FETCH_MAX_WAIT_MS, ensure_topics, new_producer
from disaster.embedded import EmbeddedKafka
from disaster.services import running_services
from disaster.settings import load_settings
from tests.support import with_database

_WARM_UP = 5  # the first reports wait for consumers to warm up (a group join, first fetches)
_SERVER = os.environ.get("DISASTER_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def _stream(
    http: aiohttp.ClientSession, seen: dict[str, float], ready: asyncio.Event
) -> None:
    async with http.get("/api/v1/dashboard/stream") as resp:
        event = ""
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith(":"):
                ready.set()
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "incident":
                data = json.loads(line[6:])
                seen.setdefault(data["description"], time.perf_counter())


async def _run(reports: int, tmp: Path) -> None:
    name = f"bench_dash_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_SERVER)
    await admin.execute(f'CREATE DATABASE "{name}"')
    broker = EmbeddedKafka(tmp / "broker")
    try:
        settings = load_settings(kafka=broker.start(), database_url=with_database(_SERVER, name),
                                 http_port=0, group_prefix=f"bench-{name}",
                                 state_dir=tmp / "state", rate_limits=False)  # fmt: skip
        async with running_services(settings, "all") as running:
            async with running.pool.acquire() as conn:
                viewer = await operator_store.add_operator(conn, "hq", "long passphrase!", "viewer")
                token = await operator_store.create_api_token(conn, viewer, "bench")
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(base_url=running.base_url, headers=headers) as http:
                seen: dict[str, float] = {}
                ready = asyncio.Event()
                listener = asyncio.create_task(_stream(http, seen, ready))
                await asyncio.wait_for(ready.wait(), 10)
                sent, published = {}, {}
                for i in range(reports):
                    text = f"bench report {i}"
                    body = {"kind": "fire", "severity": "medium", "description": text,
                            "location": {"lat": 35.0 + 0.01 * (i // 50),
                                         "lon": 139.0 + 0.01 * (i % 50)},
                            "reporter": {"role": "staff"}}  # fmt: skip
                    sent[text] = time.perf_counter()
                    async with http.post("/api/v1/incidents", json=body) as resp:
                        assert resp.status == 202, await resp.text()
                    published[text] = await _published(running.pool, sent[text])
                    deadline = time.monotonic() + 10
                    while text not in seen and time.monotonic() < deadline:  # noqa: ASYNC110
                        await asyncio.sleep(0.002)
                    await asyncio.sleep(0.05)  # one report at a time: latency, not a burst
                listener.cancel()
            peer = await _bare_round_trips(settings.kafka or "", reports)
        _report(reports, sent, published, seen, peer)
    finally:
        broker.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _bare_round_trips(bootstrap: str, count: int) -> list[float]:
    """The transport's floor: one record at a time through the same broker, same fetch wait."""
    topic = f"bench-peer-{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, {topic: 1})
    producer = new_producer(bootstrap)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                fetch_max_wait_ms=FETCH_MAX_WAIT_MS)  # fmt: skip
    await producer.start()
    await consumer.start()
    times = []
    try:
        for i in range(count):
            start = time.perf_counter()
            await producer.send_and_wait(topic, str(i).encode())
            await consumer.getone()
            times.append(time.perf_counter() - start)
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()
        await producer.stop()
    return times[_WARM_UP:]


async def _published(pool: asyncpg.Pool, since: float) -> float:
    while True:
        async with pool.acquire() as conn:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM ingress_outbox WHERE published_at IS NULL"
            )
        if waiting == 0:
            return time.perf_counter()
        if time.perf_counter() - since > 10:
            return float("nan")
        await asyncio.sleep(0.001)


def _report(n: int, sent: dict, published: dict, seen: dict, peer: list[float]) -> None:
    arrived = [seen[k] - sent[k] for k in list(sent)[_WARM_UP:] if k in seen]
    floor = [published[k] - sent[k] for k in sent]
    ms = 1000 * np.array(arrived)
    fl = 1000 * np.array(floor)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"reports: {n} (the first {_WARM_UP} not counted), arrived: {len(arrived)}")
    print(f"POST -> dashboard event  p50 {np.percentile(ms, 50):.0f} ms  p99 "
          f"{np.percentile(ms, 99):.0f} ms  max {ms.max():.0f} ms")  # fmt: skip
    print(f"POST -> outbox published p50 {np.nanpercentile(fl, 50):.0f} ms  p99 "
          f"{np.nanpercentile(fl, 99):.0f} ms")  # fmt: skip
    bare = 1000 * np.array(peer)
    print(f"peer, bare Kafka produce -> consume on the same broker: p50 "
          f"{np.percentile(bare, 50):.0f} ms  p99 {np.percentile(bare, 99):.0f} ms")  # fmt: skip
    print(f"ratio p50 / p99 (whole trip / bare Kafka hop): "
          f"{np.percentile(ms, 50) / np.percentile(bare, 50):.1f} x / "
          f"{np.percentile(ms, 99) / np.percentile(bare, 99):.1f} x")  # fmt: skip


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run(args.reports, Path(tmp)))


if __name__ == "__main__":
    main()
