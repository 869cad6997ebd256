"""Soak: a typhoon night's mixed traffic against the whole service, in ``--waves`` river waves.

Three processes besides this one, as in production: the service (``running_services(settings,
"all")``: ingest, rules, notify with 4 delivery workers, the web API), the sources
(``bench.soak.load``: river gauges, rain/water/tilt sensors, some in NGSI-LD, JMA warning
telegrams, incident reports, registrations and answers over HTTP) and a push sink
(``bench.soak.sink``) that decrypts every message. The town is ``bench.soak.town``.

The river comes in waves (``bench.soak.load.river_level_m``): twelve gauges, one a district,
rise through every threshold, their alerts fan out to each district's residents, the gauges
fall back and the next wave does the same work again, to the same residents. The service's
memory is read at the same point of each wave, once its fan-outs have settled (nothing on its
way to residents, from ``SETTLED_AT`` of the wave on): growth from the first wave to the last is
what a leak would show, while caches the first fan-outs fill (the router's trees) are there in
both. Other sources run steadily throughout.

Printed every minute: what is stored, alerts, deliveries, the service's RSS. At the end: records
sent and stored per stream, throughput, p50/p99 from produced to stored, and from reading (or
report) to the push message arriving at the sink (river per wave), each wave's fan-outs and the
RSS after them, what the service held then (live Python objects by type, glibc's heap), DLQ
against the bad records sent, delivery failures and ERROR log records. Checked: every valid
record stored once, every delivered push row received exactly once and nothing else, DLQ equal
to bad, no ERROR records, RSS growth from the first wave's settled point to the last's within
``RSS_TOLERANCE``.

Run from the repository root: ``python -m bench.soak [--waves 2] [--minutes 20] [--quick]``
(minutes: in all, 10 a wave by default; quick: two minutes a wave, a smaller town, every
source's period divided by 6). Uses ``DISASTER_DATABASE_URL`` or the Postgres on
127.0.0.1:5432, creating and dropping its own database, and its own broker.
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
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
import psutil

from bench.soak.figures import (
    STREAMS,
    Deliveries,
    Wave,
    alert_origins,
    check_deliveries,
    percentiles_ms,
    stored_counts,
    stored_latencies_ms,
    unsettled,
    wave_figures,
)
from bench.soak.load import Plan, SensorGroup, run_load, wave_s
from bench.soak.service import run_service
from bench.soak.sink import run_sink
from bench.soak.town import Town, browser_keys, build_town, populate, warning_telegrams
from disaster import topics
from disaster._kafka import ensure_topics
from disaster._pg import create_pool
from disaster.embedded import EmbeddedKafka
from disaster.services import migrate
from tests.support import with_database

DSN = "postgresql://postgres@127.0.0.1:5432/test"
BROWSER_KEYS = 64
RSS_TOLERANCE = 0.10  # RSS growth allowed from the first wave's settled point to the last's
#: A wave's memory is read once its fan-outs have settled, from this share of the wave on (its
#: river alerts are raised between about 0.3 and 0.62 of it; the gauges fall back at 0.8) …
SETTLED_AT = 0.9
#: … and at the latest at this share into the next wave (its first river alert comes at 0.3).
SETTLE_BY = 0.2
#: The service's RSS is also read here in the first wave, before any river fan-out.
BEFORE_AT = 0.2
DRAIN_TIMEOUT_S = 300.0
_CONTEXT = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Scale:
    """How big the town is and how fast the sources run (``compress`` divides every period)."""

    residents: int
    town_size: int
    compress: float
    tick_s: float
    wave_minutes: float  # the default length of a river wave


FULL = Scale(residents=60_000, town_size=120, compress=1.0, tick_s=60.0, wave_minutes=10.0)
#: Quick waves are two minutes: the sources run 6x, but the fan-outs are not 6x faster, and one
#: minute did not leave them time to settle within the wave.
QUICK = Scale(residents=10_000, town_size=60, compress=6.0, tick_s=10.0, wave_minutes=2.0)


def _sensor_groups(compress: float) -> tuple[SensorGroup, ...]:
    return (
        SensorGroup("soak-rain", "rain_rate", 120, 30 / compress, 5.0, 55.0, rising=6),
        SensorGroup("soak-wl", "water_level", 80, 60 / compress, 0.5, 2.5, ngsi_ld=True),
        SensorGroup("soak-depth", "water_depth", 60, 20 / compress, 0.0, 0.4, rising=4),
        SensorGroup("soak-tilt", "tilt", 40, 10 / compress, 0.0, 0.5),
    )


def make_plan(town: Town, setup: Setup, scale: Scale, minutes: float, waves: int) -> Plan:
    """The sources' rates (see ``docs/benchmarks.md`` for why these)."""
    c = scale.compress
    return Plan(
        bootstrap=setup.bootstrap, base_url=setup.base_url, sink_url=setup.sink_url,
        duration_s=minutes * 60, box=town.box, stations=town.stations, rising=town.districts,
        waves=waves, river_period_s=60 / c, sensors=_sensor_groups(c),
        telegrams=warning_telegrams(), telegram_period_s=120 / c, incident_period_s=15 / c,
        registrations_per_s=3.0, answers_per_s=1.0, browser_keys=tuple(setup.public_keys),
        first_resident=scale.residents,
    )  # fmt: skip


@dataclass(frozen=True)
class Mark:
    """The service at one point of a wave (``wave`` -1: before the first river fan-out)."""

    wave: int
    at_s: float
    rss_mib: float
    settled: bool = True
    census: dict[str, Any] | None = None


@dataclass
class Setup:
    """The processes and addresses of one soak."""

    bootstrap: str
    dsn: str
    sink_url: str = ""
    base_url: str = ""
    public_keys: list[tuple[str, str]] = field(default_factory=list)
    service_pid: int = 0
    census: Connection | None = None  # asks the service for a census (``service.census``)
    started_unix: float = 0.0  # when the sources started, as the bench saw it
    rss_mib: list[tuple[float, float]] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


def _start_sink(private: list[tuple[int, bytes]]) -> tuple[Any, str]:
    parent, child = _CONTEXT.Pipe()
    process = _CONTEXT.Process(target=run_sink, args=(private, child), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{parent.recv()}"


def _service_overrides(setup: Setup, state_dir: Path) -> dict[str, Any]:
    return {
        "kafka": setup.bootstrap, "database_url": setup.dsn, "http_port": 0,
        "group_prefix": f"soak-{uuid.uuid4().hex[:6]}", "state_dir": state_dir,
        "push_allow_loopback": True, "delivery_workers": 4, "rate_limits": False,
    }  # fmt: skip


def _rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


async def _progress(pool: asyncpg.Pool, http: aiohttp.ClientSession, setup: Setup,
                    started: float) -> None:  # fmt: skip
    elapsed = time.monotonic() - started
    rss = _rss_mib(setup.service_pid)
    setup.rss_mib.append((elapsed, rss))
    async with pool.acquire() as conn:
        c = await stored_counts(conn)
    async with http.get(f"{setup.sink_url}/stats") as resp:
        sink = await resp.json()
    rejected = sum(v for k, v in c.items() if k.startswith("rejected:"))
    print(f"  {elapsed:4.0f} s: river {c['river']:,} sensor {c['sensor']:,} weather "
          f"{c['weather']} incident {c['incident']} | rejected {rejected} | alerts "
          f"{c['alerts_issued']} issued, {c['alerts_draft']} drafts | push "
          f"{c.get('push:delivered', 0):,} delivered, {c.get('push:pending', 0):,} pending, sink "
          f"{sink['total']:,} | residents {c['subscribers']:,} | RSS {rss:.0f} MiB | load "
          f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip


async def _run_load(plan: Plan) -> dict[str, int]:
    loop = asyncio.get_running_loop()
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=_CONTEXT)
    try:
        return await loop.run_in_executor(pool, run_load, plan)
    finally:
        await asyncio.to_thread(pool.shutdown)


async def _drive(pool: asyncpg.Pool, setup: Setup, plan: Plan, tick_s: float) -> dict[str, int]:
    """Run the load, printing progress every ``tick_s`` and reading the service at each wave's
    marks; return what the sources sent."""
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        setup.started_unix = time.time()
        load = asyncio.create_task(_run_load(plan))
        marks = asyncio.create_task(_mark_waves(pool, http, setup, plan, started))
        try:
            while not load.done():
                await asyncio.wait({load}, timeout=tick_s - (time.monotonic() - started) % tick_s)
                if not load.done():
                    await _progress(pool, http, setup, started)
            sent = load.result()
            print(f"load done after {time.monotonic() - started:.0f} s; draining", flush=True)
            await _drain(pool, http, setup, sent)
            await marks
        finally:
            marks.cancel()  # done already, unless the load or the drain failed
        await _progress(pool, http, setup, started)
    return sent


async def _mark_waves(
    pool: asyncpg.Pool, http: aiohttp.ClientSession, setup: Setup, plan: Plan, started: float
) -> None:
    """Read the service before the first river fan-out, then once each wave's fan-outs have
    settled (from ``SETTLED_AT`` of the wave until ``SETTLE_BY`` into the next; the last
    wave's until the drain gives up): its RSS and a census."""
    wave = wave_s(plan)
    await asyncio.sleep(max(0.0, started + BEFORE_AT * wave - time.monotonic()))
    setup.marks.append(Mark(-1, time.monotonic() - started, _rss_mib(setup.service_pid)))
    for k in range(plan.waves):
        await asyncio.sleep(max(0.0, started + (k + SETTLED_AT) * wave - time.monotonic()))
        last = k == plan.waves - 1
        limit = started + (k + 1 + SETTLE_BY) * wave + (DRAIN_TIMEOUT_S if last else 0.0)
        while True:
            settled = await _settled(pool, http, setup)
            if settled or time.monotonic() >= limit:
                break
            await asyncio.sleep(1.0)
        at, rss = time.monotonic() - started, _rss_mib(setup.service_pid)
        census = await asyncio.to_thread(_census, setup)
        setup.marks.append(Mark(k, at, rss, settled, census))
        print(f"  wave {k + 1} {'settled' if settled else 'NOT settled'} at {at:.0f} s: RSS "
              f"{rss:.0f} MiB", flush=True)  # fmt: skip


async def _settled(pool: asyncpg.Pool, http: aiohttp.ClientSession, setup: Setup) -> bool:
    """True when every river alert raised so far has fanned out and every push is at the sink."""
    async with pool.acquire() as conn:
        events, pending, delivered = await unsettled(conn)
    async with http.get(f"{setup.sink_url}/stats") as resp:
        sink = await resp.json()
    return events == pending == 0 and sink["total"] >= delivered


def _census(setup: Setup) -> dict[str, Any] | None:
    assert setup.census is not None
    setup.census.send("census")
    return _receive(setup.census, 120.0)


async def _drain(
    pool: asyncpg.Pool, http: aiohttp.ClientSession, setup: Setup, sent: dict[str, int]
) -> None:
    """Wait until every valid record is stored, nothing is pending and the sink has all."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        async with pool.acquire() as conn:
            c = await stored_counts(conn)
        async with http.get(f"{setup.sink_url}/stats") as resp:
            sink = await resp.json()
        stored = all(c[name] >= _valid(sent, name, topic) for name, topic, _, _ in STREAMS)
        if stored and not c.get("push:pending") and sink["total"] >= c.get("push:delivered", 0):
            return
        await asyncio.sleep(1.0)
    print(f"drain gave up after {DRAIN_TIMEOUT_S:.0f} s")


def _valid(sent: dict[str, int], name: str, topic: str) -> int:
    return sent.get("incident:ok", 0) if name == "incident" else sent.get(f"{topic}:valid", 0)


async def _dlq_sizes(bootstrap: str) -> dict[str, int]:
    """Records on each DLQ topic (end offsets: nothing is ever deleted from them here)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415 — only at the end

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = [TopicPartition(dlq, p) for _, _, dlq, _ in STREAMS
                 for p in range(topics.PARTITIONS[dlq])]  # fmt: skip
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    return {tp.topic: sum(v for k, v in ends.items() if k.topic == tp.topic) for tp in parts}


@dataclass(frozen=True)
class Results:
    """Everything the report prints."""

    minutes: float
    sent: dict[str, int]
    counts: dict[str, int]
    stored_ms: dict[str, np.ndarray]
    deliveries: Deliveries
    waves: tuple[dict[int, Wave], int]  # per wave, and residents every wave reached
    dlq: dict[str, int]
    rss_mib: list[tuple[float, float]]
    marks: list[Mark]
    errors: tuple[int, list[str]]
    load_avg: tuple[float, float]


def _print_results(r: Results) -> bool:
    """Print the figures and checks; return whether every check passed."""
    seconds = r.minutes * 60
    ok = True
    print(f"\nsoak of {r.minutes:g} min; load average {r.load_avg[0]:.1f} at start, "
          f"{r.load_avg[1]:.1f} at end")  # fmt: skip
    for name, topic, dlq, _ in STREAMS:
        valid, bad = _valid(r.sent, name, topic), r.sent.get(f"{topic}:bad", 0)
        stored, rejected = r.counts[name], r.counts.get(f"rejected:{topic}", 0)
        print(f"bench: {name}: sent {valid:,} valid + {bad} bad, stored {stored:,} "
              f"({stored / seconds:.1f}/s), produced->stored p50/p99 "
              f"{percentiles_ms(r.stored_ms[name])}, DLQ {r.dlq[dlq]} "
              f"(rejected rows {rejected})")  # fmt: skip
        ok &= _check(f"{name}: every valid record stored once", stored == valid)
        ok &= _check(f"{name}: DLQ == bad records sent", r.dlq[dlq] == bad == rejected)
    others = {
        k: v for k, v in sorted(r.sent.items()) if ":" in k and not k.split(":")[0].count(".")
    }
    print(f"bench: http: {others}")
    d = r.deliveries
    print(f"bench: alerts issued {r.counts['alerts_issued']}, drafts {r.counts['alerts_draft']}; "
          f"push rows delivered {d.expected:,} over {len(d.by_alert)} alerts "
          f"({d.expected / seconds:.1f}/s), sink received {d.received:,}")  # fmt: skip
    for kind, lat in sorted(d.latencies_s.items()):
        print(f"bench: {kind} -> delivered at the sink, p50/p99 {percentiles_ms(lat * 1e3)} "
              f"({len(lat):,} messages)")  # fmt: skip
    failed = sum(
        v for k, v in r.counts.items() if k in ("push:failed", "push:gone", "push:pending")
    )
    print(f"bench: delivery failures (failed, gone, still pending) {failed}")
    ok &= _check("push: every delivered row received once, nothing else",
                 d.missing == d.unexpected == d.duplicates == 0 and failed == 0)  # fmt: skip
    _print_waves(r.waves, r.marks)
    ok &= _rss_check(r.rss_mib, r.marks)
    print(f"bench: ERROR log records of the service: {r.errors[0]}")
    for line in r.errors[1]:
        print(f"    {line}")
    ok &= _check("no ERROR log records", r.errors[0] == 0)
    return ok


def _print_waves(waves: tuple[dict[int, Wave], int], marks: list[Mark]) -> None:
    by_wave, every = waves
    for k, w in by_wave.items():
        print(f"bench: wave {k + 1}: {w.alerts} river alerts, {w.push_rows:,} push rows "
              f"delivered to {w.residents:,} residents")  # fmt: skip
    if len(by_wave) > 1:
        print(f"bench: residents reached in every wave: {every:,}")
    for mark in marks:
        census = mark.census or {}
        objects = sum(n for n, _ in census.get("by_type", {}).values())
        heap = census.get("malloc_mib", {})
        held = (f"; {objects:,} live Python objects, {census['pymalloc_blocks']:,} pymalloc "
                f"blocks, glibc heap {heap.get('used', 0):.0f} MiB used + "
                f"{heap.get('free', 0):.0f} MiB free ({heap.get('mmapped', 0):.0f} MiB of it "
                f"mmapped)" if census else "")  # fmt: skip
        what = ("before the first river fan-out" if mark.wave < 0 else
                f"after wave {mark.wave + 1}'s fan-outs "
                f"{'settled' if mark.settled else 'NOT settled'}")  # fmt: skip
        print(f"bench: RSS {what} ({mark.at_s:.0f} s): {mark.rss_mib:.0f} MiB{held}")


def _rss_check(samples: list[tuple[float, float]], marks: list[Mark]) -> bool:
    print("bench: service RSS per minute (MiB): "
          + ", ".join(f"{t:.0f}s {m:.0f}" for t, m in samples))  # fmt: skip
    waves = [m for m in marks if m.wave >= 0]
    if len(waves) < 2:  # a first and a last
        print("bench: one wave: RSS growth not judged (it takes two waves)")
        return True
    first, last = waves[0], waves[-1]
    growth = (last.rss_mib - first.rss_mib) / first.rss_mib
    print(f"bench: RSS after wave 1 -> after wave {last.wave + 1}: {first.rss_mib:.0f} -> "
          f"{last.rss_mib:.0f} MiB ({growth:+.1%})")  # fmt: skip
    _print_grown(first.census, last.census)
    ok = _check("every wave's fan-outs settled when its RSS was read",
                all(m.settled for m in waves))  # fmt: skip
    return ok & _check(f"RSS growth from wave 1 to wave {last.wave + 1} within "
                       f"{RSS_TOLERANCE:.0%}", growth <= RSS_TOLERANCE)  # fmt: skip


def _print_grown(before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """The live Python object types that grew most in shallow bytes between two censuses."""
    if not before or not after:
        return
    old, new = before["by_type"], after["by_type"]
    grown = sorted(
        ((name, n - old.get(name, (0, 0))[0], b - old.get(name, (0, 0))[1])
         for name, (n, b) in new.items()),
        key=lambda g: -g[2],
    )[:10]  # fmt: skip
    total = sum(b for _, b in new.values()) - sum(b for _, b in old.values())
    count = sum(n for n, _ in new.values()) - sum(n for n, _ in old.values())
    print(f"bench: live Python objects between them: {count:+,} ({total / 2**20:+.1f} MiB "
          f"shallow); grew most: " + ", ".join(f"{name} {n:+,} ({b / 2**10:+,.0f} KiB)"
                                                for name, n, b in grown if b > 0))  # fmt: skip
    old_heap, new_heap = before["malloc_mib"], after["malloc_mib"]
    if old_heap and new_heap:
        print(f"bench: glibc heap between them: used {new_heap['used'] - old_heap['used']:+.1f} "
              f"MiB, free {new_heap['free'] - old_heap['free']:+.1f} MiB; pymalloc blocks "
              f"{after['pymalloc_blocks'] - before['pymalloc_blocks']:+,}")  # fmt: skip


def _check(what: str, passed: bool) -> bool:
    print(f"check: {what}: {'ok' if passed else 'FAILED'}")
    return passed


async def _soak(setup: Setup, scale: Scale, minutes: float, waves: int, state_dir: Path) -> Results:
    """Everything between creating the database and dropping it."""
    private, setup.public_keys = browser_keys(BROWSER_KEYS)
    sink, setup.sink_url = _start_sink(private)
    pool = await create_pool(setup.dsn)
    stop = _CONTEXT.Event()
    report, child = _CONTEXT.Pipe()
    setup.census, census_child = _CONTEXT.Pipe()
    service = _CONTEXT.Process(
        target=run_service,
        args=(_service_overrides(setup, state_dir), state_dir / "service.log", child, stop,
              census_child),
    )  # fmt: skip
    try:
        async with pool.acquire() as conn:
            town = await build_town(conn, state_dir / "city.graph", size=scale.town_size,
                                    stations=50)  # fmt: skip
            await populate(conn, town, scale.residents, setup.sink_url, setup.public_keys)
        print(f"town: {scale.town_size}x{scale.town_size} intersections, {scale.residents:,} "
              f"residents, {len(town.stations)} gauges; starting the service",
              flush=True)  # fmt: skip
        service.start()
        setup.service_pid = service.pid or 0
        setup.base_url = await asyncio.to_thread(_receive, report, 120.0)
        load_start = os.getloadavg()[0]
        plan = make_plan(town, setup, scale, minutes, waves)
        sent = await _drive(pool, setup, plan, scale.tick_s)
        counts, latencies, deliveries, by_wave, dlq = await _collect(pool, setup, wave_s(plan))
        stop.set()
        setup.census.send(None)
        errors = await asyncio.to_thread(_receive, report, 60.0)
        return Results(minutes, sent, counts, latencies, deliveries, by_wave, dlq,
                       rss_mib=setup.rss_mib, marks=setup.marks, errors=errors,
                       load_avg=(load_start, os.getloadavg()[0]))  # fmt: skip
    finally:
        stop.set()
        if service.pid is not None:
            await asyncio.to_thread(service.join, 30)
            if service.is_alive():
                service.terminate()
        await pool.close()
        sink.terminate()
        sink.join(10)


def _receive(conn: Connection, timeout_s: float) -> Any:
    if not conn.poll(timeout_s):
        msg = f"no answer from a child process within {timeout_s:.0f} s"
        raise TimeoutError(msg)
    return conn.recv()


async def _collect(pool: asyncpg.Pool, setup: Setup, wave: float) -> tuple[
    dict[str, int], dict[str, np.ndarray], Deliveries, tuple[dict[int, Wave], int],
    dict[str, int],
]:  # fmt: skip
    async with aiohttp.ClientSession() as http, http.get(f"{setup.sink_url}/dump") as resp:
        arrivals = await resp.json()
    async with pool.acquire() as conn:
        counts = await stored_counts(conn)
        latencies = await stored_latencies_ms(conn)
        origins = {  # river alerts by wave, so each wave's reading -> delivered is its own
            alert: (f"{kind} (wave {int((at - setup.started_unix) // wave) + 1})"
                    if kind == "river.stage" else kind, at, level)
            for alert, (kind, at, level) in (await alert_origins(conn)).items()
        }  # fmt: skip
        deliveries = await check_deliveries(conn, arrivals, origins)
        by_wave = await wave_figures(conn, setup.started_unix, wave)
    return counts, latencies, deliveries, by_wave, await _dlq_sizes(setup.bootstrap)


async def main(minutes: float, scale: Scale, waves: int) -> bool:
    """Create the database and broker, soak, drop them; return whether every check passed."""
    server = os.environ.get("DISASTER_DATABASE_URL", DSN)
    name = f"bench_soak_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    broker = EmbeddedKafka(Path(tempfile.mkdtemp(prefix="soak-broker-")))
    bootstrap = broker.start()
    try:
        await ensure_topics(bootstrap, topics.PARTITIONS, topics.COMPACTED)
        setup = Setup(bootstrap, with_database(server, name))
        await migrate(setup.dsn)
        state_dir = Path(tempfile.mkdtemp(prefix="soak-state-"))
        results = await _soak(setup, scale, minutes, waves, state_dir)
    finally:
        broker.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return _print_results(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--waves", type=int, default=2, help="river waves (default 2)")
    parser.add_argument("--minutes", type=float,
                        help="how long the sources run in all (default 10 a wave)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="2 minutes a wave, smaller town, 6x rates")  # fmt: skip
    args = parser.parse_args()
    chosen = QUICK if args.quick else FULL
    minutes = args.minutes or chosen.wave_minutes * args.waves
    passed = asyncio.run(main(minutes, chosen, max(1, args.waves)))
    raise SystemExit(0 if passed else 1)
