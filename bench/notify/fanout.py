"""Push fan-out through the Postgres outbox: one alert to every resident's phone, end to end.

N residents (default 1,000,000) live inside one area, read Japanese, English or easy Japanese
(8:1:1) and have one Web Push subscription each, pointing at a local sink (``bench.notify.sink``,
its own process) that answers 201, counts every message against its resident and decrypts and
checks one in a hundred. The subscriptions' p256dh keys are real P-256 points with auth secrets
(256 browser key pairs shared round-robin; the sink holds their private halves), so every
message is really encrypted (RFC 8291) and carries a real VAPID header (RFC 8292). Residents are
bulk-loaded with COPY: registration speed is not what is measured.

Measured, in this order:

1. The notifier's work for one alert, step by step as ``Notifier.handle`` does it: loading the
   location index (once per process), targeting, looking up the push channels, and writing the
   outbox rows (an inbox row and a push row per resident) in one transaction.
2. Deliveries per second: the delivery workers (``notify.delivery.DeliveryWorker``, several on
   one event loop) drain every pending push row to the sink, with one process and then with two
   (spawned, each with its own pool, producer, push session and workers, claiming from the same
   outbox). Composing is real personalisation: ``PersonalComposer`` with routes off
   (``routes=None``), so each resident's plain alert message is composed in their language.
   Receipts go to the ``deliveries`` topic of the embedded broker, as in production. The outbox
   is emptied and written again (by ``Notifier.handle`` itself, timed whole) before the second.
3. The peer: pywebpush's ``webpush()`` in a plain one-at-a-time loop (``requests``, a new
   connection per message, a VAPID signature per message) on a sample sent to the same sink,
   with the same composed payloads, extrapolated to N.

Checked after each run: every push row ``delivered``, none retried, the sink's count equal to
N with no resident reached twice, and every sampled message decrypted and correct. Each run
also reports the CPU time per message of each part (delivery processes, Postgres, broker, sink)
and of everything else on the machine, since the goal is about two cores that may be shared;
``projected_on_2_free_cores`` is two cores divided by the delivery processes', Postgres' and
the broker's time per message (the sink stands in for the push services, which are elsewhere).

``--shared-compose`` lets the workers compose once per (alert, language) through
``notify.delivery.SharingComposer`` (``SharingPersonalComposer`` below), to measure what that
saves; without it every resident's payload is composed for them.

Run from the repository root: ``python -m bench.notify.fanout [--quick] [--residents N]
[--processes 1 2] [--workers W] [--batch B] [--shared-compose]`` (quick: 20,000 residents).
Uses ``DISASTER_DATABASE_URL`` or the Postgres on 127.0.0.1:5432, creating and dropping its own
database, and the embedded broker.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
import psutil
from aiokafka import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric import ec

from bench.notify.sink import SinkConfig, run_sink
from disaster import outbox_store, resident_store, store, topics
from disaster._kafka import encode_json, ensure_topics, new_producer
from disaster.domain import Alert
from disaster.embedded import EmbeddedKafka
from disaster.services import migrate
from notify.compose import PersonalComposer
from notify.delivery import PUSH_TTL_S, DeliveryWorker, Recipient
from notify.notifier import Notifier
from notify.residents import ResidentLocations, target_area
from notify.ssrf import EndpointPolicy
from notify.vapid import (
    VapidKey,
    VapidSigner,
    b64url_encode,
    generate_vapid_key,
    vapid_key_from_pem,
)
from notify.webpush import SenderLimits, WebPushSender, message_for_alert, new_push_session
from tests.support import square, with_database

DSN = "postgresql://postgres@127.0.0.1:5432/test"
#: Resident ``n`` reads ``LANGUAGES[n % 10]``: 80 % Japanese, 10 % English, 10 % easy Japanese.
LANGUAGES = ("ja", "ja", "en", "ja", "ja", "ja-easy", "ja", "ja", "ja", "ja")
BROWSER_KEYS = 256
SUBJECT = "mailto:bousai@city.example.jp"
PUBLIC_URL = "https://bousai.city.example.jp"
LON0, LAT0, SIZE_DEG = 139.60, 35.55, 0.2
PEER_MESSAGES = 2000
GOAL_PER_S = 1_000_000 / 60
STALL_S = 60.0
_ANY_PENDING = "SELECT EXISTS (SELECT 1 FROM deliveries WHERE status = 'pending')"


def _browser_keys(count: int) -> tuple[list[tuple[int, bytes]], list[tuple[str, str]]]:
    """Browsers' key pairs: (private scalar, auth) for the sink, (p256dh, auth) for the rows."""
    private, public = [], []
    for _ in range(count):
        key, auth = ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
        point = key.public_key().public_numbers()
        raw = b"\x04" + point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")
        private.append((key.private_numbers().private_value, auth))
        public.append((b64url_encode(raw), b64url_encode(auth)))
    return private, public


async def copy_residents(
    conn: asyncpg.Connection,
    ids: list[uuid.UUID],
    lon: list[float],
    lat: list[float],
    origin: str,
    keys: list[tuple[str, str]],
) -> None:
    """COPY residents (languages round-robin) with their homes and one push subscription each
    at ``origin``/p/N, sharing ``keys`` round-robin; then ANALYZE for the planner."""
    langs = [LANGUAGES[n % len(LANGUAGES)] for n in range(len(ids))]
    await conn.copy_records_to_table(
        "subscribers", records=zip(ids, langs, strict=True), columns=["id", "language"]
    )
    homes = ((sub, "home", y, x) for sub, y, x in zip(ids, lat, lon, strict=True))
    await conn.copy_records_to_table(
        "subscriber_locations", records=homes, columns=["subscriber_id", "kind", "lat", "lon"]
    )
    channels = (
        (uuid.uuid4(), sub, f"{origin}/p/{n}", *keys[n % len(keys)]) for n, sub in enumerate(ids)
    )
    await conn.copy_records_to_table(
        "push_channels", records=channels,
        columns=["id", "subscriber_id", "endpoint", "p256dh", "auth"],
    )  # fmt: skip
    await conn.execute("ANALYZE")


async def _populate(
    conn: asyncpg.Connection, ids: list[uuid.UUID], origin: str, keys: list[tuple[str, str]]
) -> None:
    """COPY the residents, their homes inside the area and one subscription each."""
    rng = np.random.default_rng(20261122)
    lon = (LON0 + 0.001 + rng.uniform(0, SIZE_DEG - 0.002, len(ids))).tolist()
    lat = (LAT0 + 0.001 + rng.uniform(0, SIZE_DEG - 0.002, len(ids))).tolist()
    await copy_residents(conn, ids, lon, lat, origin, keys)


def _alert(*, lon: float = LON0, lat: float = LAT0, size_deg: float = SIZE_DEG) -> Alert:
    """A level-4 flood alert (避難指示) over the whole area."""
    return Alert.model_validate({
        "id": uuid.uuid4(), "level": 4, "hazard": "flood", "area_name": "ベンチ川流域",
        "area": square(lon, lat, size_deg), "issued_at": datetime.now(UTC),
        "headline": {"ja": "ベンチ川が氾濫危険水位に達しました。直ちに避難してください。",
                     "en": "The Bench river is at flood danger level. Evacuate now."},
    })  # fmt: skip


def _record(alert: Alert) -> ConsumerRecord[bytes, bytes]:
    value = encode_json(alert.to_json_dict())
    return ConsumerRecord(topics.ALERTS, 0, 0, 0, 0, str(alert.id).encode(), value, None, 36,
                          len(value), [])  # fmt: skip


Figures = list[tuple[str, float, str]]


async def _write_outbox_in_steps(pool: asyncpg.Pool, alert: Alert) -> Figures:
    """What ``Notifier.handle`` does before publishing, each step timed."""
    locations = ResidentLocations()
    async with pool.acquire() as conn:
        started = time.perf_counter()
        await locations.refresh(conn)
        loaded = time.perf_counter()
        inside = locations.targets(target_area(alert))
        targeted = time.perf_counter()
        pushes = [(s, c) for c, s, *_ in await resident_store.push_channels_of(conn, inside)]
        looked_up = time.perf_counter()
        async with conn.transaction():
            rows = await outbox_store.enqueue(conn, alert.id, int(alert.level), inside, pushes)
        written = time.perf_counter()
    return [
        ("notifier_index_load", loaded - started, "s"),
        ("notifier_targeted", len(inside), "residents"),
        ("notifier_targeting", (targeted - loaded) * 1e3, "ms"),
        ("notifier_push_channel_lookup", (looked_up - targeted) * 1e3, "ms"),
        ("notifier_enqueue_rows", rows, "rows"),
        ("notifier_enqueue", written - looked_up, "s"),
    ]


async def _write_outbox_by_notifier(pool: asyncpg.Pool, bootstrap: str, alert: Alert) -> Figures:
    """``Notifier.handle`` whole (after a warm-up alert that loads its index): targeting, the
    outbox rows, and one inbox receipt per resident published to ``deliveries``."""
    producer = new_producer(bootstrap)
    await producer.start()
    try:
        notifier = Notifier(pool, producer)
        await notifier.handle(_record(_alert(lon=LON0 - 1, lat=LAT0 - 1, size_deg=0.01)))
        started = time.perf_counter()
        await notifier.handle(_record(alert))
        return [("notifier_handle_with_receipts", time.perf_counter() - started, "s")]
    finally:
        await producer.stop()


class SharingPersonalComposer(PersonalComposer):
    """``PersonalComposer`` telling the workers when a payload is shared (``--shared-compose``):
    with no router prepared and no incident, every resident gets the plain alert in their
    language, so the language is the key. A preview of the same few lines in the composer."""

    def shared_key(self, alert: Alert, recipient: Recipient, prepared: object) -> str | None:
        """The language when the payload is the plain alert, else None (the resident's own)."""
        if alert.incident_id is not None or prepared is not None:
            return None
        return recipient.language


# --- the delivery processes -----------------------------------------------------------------


async def _connection_init(conn: asyncpg.Connection) -> None:
    """jsonb as Python values, as the service's pools have it (alerts are read back)."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _run_workers(
    dsn: str,
    bootstrap: str,
    vapid_pem: bytes,
    shape: tuple[int, int, bool],
    events: tuple[Event, ...],
) -> None:
    workers, batch, share = shape
    ready, go, stop = events
    pool = await asyncpg.create_pool(dsn, min_size=2 * workers, max_size=2 * workers + 2,
                                     init=_connection_init)  # fmt: skip
    producer = new_producer(bootstrap)
    await producer.start()
    policy, limits = EndpointPolicy(allow_insecure_loopback=True), SenderLimits()
    signer = VapidSigner(vapid_key_from_pem(vapid_pem), subject=SUBJECT)
    async with new_push_session(policy, limits) as session:
        sender = WebPushSender(session, signer, policy=policy, limits=limits)
        composer = (SharingPersonalComposer if share else PersonalComposer)(pool, None, PUBLIC_URL)
        running = [DeliveryWorker(pool, producer, sender, composer, batch=batch)
                   for _ in range(workers)]  # fmt: skip
        gc.freeze()  # as running_services does: start-up objects stay out of full collections
        ready.set()
        await asyncio.to_thread(go.wait)
        tasks = [asyncio.create_task(w.run()) for w in running]
        await asyncio.to_thread(stop.wait)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await producer.stop()
    await pool.close()


def deliver_in_child(
    dsn: str,
    bootstrap: str,
    vapid_pem: bytes,
    shape: tuple[int, int, bool],
    events: tuple[Event, ...],
) -> None:
    """Process entry point: ``shape`` = (workers, batch, shared compose); ready, go and stop are
    the events."""
    asyncio.run(_run_workers(dsn, bootstrap, vapid_pem, shape, events))


async def _sink_stats(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(f"{url}/stats") as resp:
        return await resp.json()


async def _wait_drained(
    pool: asyncpg.Pool, http: aiohttp.ClientSession, sink_url: str, expected: int
) -> float:
    """Wait until the sink has ``expected`` messages and no row is pending (or nothing moves
    for a minute); print progress every ten seconds; return when that was (perf_counter)."""
    started = last_report = last_move = time.perf_counter()
    seen = 0
    while True:
        await asyncio.sleep(0.2)
        now = time.perf_counter()
        total = (await _sink_stats(http, sink_url))["total"]
        if total != seen:
            seen, last_move = total, now
        if total >= expected and not await pool.fetchval(_ANY_PENDING):
            return now
        if now - last_move > STALL_S:
            print(f"  stalled at {total:,} messages for {STALL_S:.0f} s; giving up")
            return now
        if now - last_report >= 10:
            last_report = now
            print(f"  {now - started:5.0f} s: {total:,} messages, {total / (now - started):,.0f}/s")


class CpuMeter:
    """CPU seconds used by each part of the run over a window, and by everything else on the
    machine: the goal is about two shared cores, so where the time goes matters as much as the
    rate. Postgres counts every ``postgres`` process (the backends serving all parts)."""

    def __init__(self, roles: dict[str, list[int]]) -> None:
        self._roles = roles
        self._start: dict[str, float] = {}
        self._busy_start = 0.0

    def start(self) -> None:
        """Begin the window."""
        self._start, self._busy_start = self._sample(), _busy_s()

    def stop(self) -> dict[str, float]:
        """End the window; CPU seconds per role, ``other`` for the rest of the machine."""
        end, busy = self._sample(), _busy_s() - self._busy_start
        used = {role: end[role] - self._start.get(role, 0.0) for role in end}
        used["other"] = max(busy - sum(used.values()), 0.0)
        return used

    def _sample(self) -> dict[str, float]:
        sample = {role: sum(_cpu_s(pid) for pid in pids) for role, pids in self._roles.items()}
        postgres = [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
        sample["postgres"] = sum(_cpu_s(pid) for pid in postgres)
        return sample


def _cpu_s(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


def _busy_s() -> float:
    times = psutil.cpu_times()
    return times.user + times.system + times.nice + getattr(times, "softirq", 0.0)


@dataclass(frozen=True)
class Setup:
    """What every part of one bench run shares."""

    dsn: str
    bootstrap: str
    vapid_pem: bytes
    sink_url: str
    residents: int
    workers: int
    batch: int
    shared_compose: bool
    pids: dict[str, list[int]]  # the sink's, the broker's and our own, for the CPU meter


async def _deliver(
    pool: asyncpg.Pool, http: aiohttp.ClientSession, setup: Setup, processes: int
) -> tuple[float, dict[str, float]]:
    """Start the worker processes, let them go together, time until the outbox is drained;
    return the seconds and the CPU seconds each part used meanwhile."""
    context = multiprocessing.get_context("spawn")
    go, stop = context.Event(), context.Event()
    shape = (setup.workers, setup.batch, setup.shared_compose)
    children, readies = [], []
    for _ in range(processes):
        ready = context.Event()
        args = (setup.dsn, setup.bootstrap, setup.vapid_pem, shape, (ready, go, stop))
        child = context.Process(target=deliver_in_child, args=args)
        child.start()
        children.append(child)
        readies.append(ready)
    for ready in readies:
        await asyncio.to_thread(ready.wait)
    meter = CpuMeter({**setup.pids, "delivery": [c.pid for c in children if c.pid]})
    meter.start()
    started = time.perf_counter()
    go.set()
    try:
        finished = await _wait_drained(pool, http, setup.sink_url, setup.residents)
        used = meter.stop()
    finally:
        stop.set()
        for child in children:
            await asyncio.to_thread(child.join, 30)
    return finished - started, used


async def _outcome(pool: asyncpg.Pool, alert: Alert) -> dict[str, int]:
    """The push rows of the alert by status, and how many were claimed more than once."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT status, count(*) AS n, count(*) FILTER (WHERE attempts > 1) AS again,
                      count(DISTINCT subscriber_id) AS residents
               FROM deliveries WHERE alert_id = $1 AND channel <> 'inbox' GROUP BY status""",
            alert.id,
        )
    found = {r["status"]: int(r["n"]) for r in rows}
    found["claimed_again"] = sum(int(r["again"]) for r in rows)
    found["duplicate_pairs"] = sum(int(r["n"]) - int(r["residents"]) for r in rows)
    return found


# --- the peer -----------------------------------------------------------------------------------


def pywebpush_loop(
    infos: list[dict[str, Any]], payload_of: Callable[[int], bytes], vapid_pem: bytes, alert: Alert
) -> float:
    """The peer: compose, then ``pywebpush.webpush``, one resident at a time, as a plain
    loop over pywebpush is written; return seconds per message."""
    from py_vapid import Vapid02  # noqa: PLC0415 - the peer's imports stay with the peer
    from pywebpush import webpush  # noqa: PLC0415

    vapid = Vapid02.from_pem(vapid_pem)
    claims: dict[str, str | int] = {"sub": SUBJECT}
    message = message_for_alert(b"", level=int(alert.level), ttl_s=PUSH_TTL_S,
                                series=alert.area_name)  # fmt: skip
    headers: dict[str, str | int | float] = {"Urgency": message.urgency,
                                             "Topic": message.topic or ""}  # fmt: skip
    started = time.perf_counter()
    for n, info in enumerate(infos):
        webpush(info, payload_of(n).decode(), vapid_private_key=vapid, vapid_claims=claims,
                ttl=PUSH_TTL_S, headers=headers, timeout=10)  # fmt: skip
    return (time.perf_counter() - started) / len(infos)


def _peer_inputs(
    alert: Alert, ids: list[uuid.UUID], sink_url: str, keys: list[tuple[str, str]], count: int
) -> tuple[list[dict[str, Any]], Callable[[int], bytes]]:
    """The first ``count`` residents' subscriptions, and their payloads composed as ours are
    (``PersonalComposer`` without routes, in the resident's language)."""
    composer = PersonalComposer(None, None, PUBLIC_URL)  # type: ignore[arg-type]
    infos = []
    for n in range(count):
        p256dh, auth = keys[n % len(keys)]
        infos.append({"endpoint": f"{sink_url}/p/{n}", "keys": {"p256dh": p256dh, "auth": auth}})

    def payload_of(n: int) -> bytes:
        recipient = Recipient(ids[n], LANGUAGES[n % len(LANGUAGES)], ())
        return composer.compose(alert, recipient, None)

    return infos, payload_of


# --- the run ------------------------------------------------------------------------------------


def _start_sink(config: SinkConfig) -> tuple[BaseProcess, str]:
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=run_sink, args=(config, send), name="push sink")
    process.start()
    port = receive.recv()
    return process, f"http://127.0.0.1:{port}"


async def _reset_sink(http: aiohttp.ClientSession, url: str, alert: Alert) -> None:
    async with http.post(f"{url}/reset", json={"alert_id": str(alert.id)}) as resp:
        resp.raise_for_status()


async def _refill(pool: asyncpg.Pool, bootstrap: str, alert: Alert, first: bool) -> Figures:
    """Write the alert's outbox rows: in timed steps the first time, else (after emptying the
    outbox) by ``Notifier.handle`` whole; then vacuum, as a live outbox would be by now."""
    if first:
        figures = await _write_outbox_in_steps(pool, alert)
    else:
        async with pool.acquire() as conn:
            await conn.execute("TRUNCATE deliveries")
        figures = await _write_outbox_by_notifier(pool, bootstrap, alert)
    async with pool.acquire() as conn:
        await conn.execute("VACUUM ANALYZE deliveries")
    return figures


def _run_figures(
    tag: str, timing: tuple[float, dict[str, float]], outcome: dict[str, int], sink: dict[str, Any]
) -> Figures:
    seconds, cpu = timing
    expected = sink["expected"]
    delivered = outcome.get("delivered", 0)
    if sink["failures"]:
        print(f"  {tag}: sample failures: {sink['failures']}")
    figures = [
        (f"fanout_{tag}_drain", seconds, "s"),
        (f"fanout_{tag}_deliveries_per_s", expected / seconds, "deliveries/s"),
        (f"fanout_{tag}_rows_delivered", delivered, "rows"),
        (f"fanout_{tag}_rows_not_delivered", expected - delivered, "rows"),
        (f"fanout_{tag}_rows_claimed_again", outcome["claimed_again"], "rows"),
        (f"fanout_{tag}_duplicate_pairs_in_outbox", outcome["duplicate_pairs"], "rows"),
        (f"fanout_{tag}_sink_messages", sink["total"], "messages"),
        (f"fanout_{tag}_sink_residents_reached", sink["reached"], "residents"),
        (f"fanout_{tag}_sink_duplicates", sink["duplicates"], "messages"),
        (f"fanout_{tag}_sample_checked", sink["sampled"], "messages"),
        (f"fanout_{tag}_sample_failures", sink["sample_failures"], "messages"),
    ]
    figures += [(f"fanout_{tag}_cpu_{role}", used / expected * 1e6, "us/message")
                for role, used in cpu.items()]  # fmt: skip
    ours = cpu["delivery"] + cpu["postgres"] + cpu["broker"]
    figures += [
        (f"fanout_{tag}_cores_busy", sum(cpu.values()) / seconds, "cores"),
        (f"fanout_{tag}_cpu_ours", ours / expected * 1e6, "us/message"),
        (f"fanout_{tag}_projected_on_2_free_cores", 2 * expected / ours, "deliveries/s"),
    ]
    return figures


async def _peer(http: aiohttp.ClientSession, setup: Setup, alert: Alert, ids: list[uuid.UUID],
                keys: list[tuple[str, str]]) -> Figures:  # fmt: skip
    """Run the pywebpush loop against the sink; its figures, extrapolated to N."""
    count = min(PEER_MESSAGES, setup.residents)
    await _reset_sink(http, setup.sink_url, alert)
    infos, payload_of = _peer_inputs(alert, ids, setup.sink_url, keys, count)
    per_message_s = await asyncio.to_thread(
        pywebpush_loop, infos, payload_of, setup.vapid_pem, alert
    )
    stats = await _sink_stats(http, setup.sink_url)
    if stats["failures"]:
        print(f"  pywebpush: sample failures: {stats['failures']}")
    return [
        ("pywebpush_messages", count, "messages"),
        ("pywebpush_deliveries_per_s", 1 / per_message_s, "deliveries/s"),
        ("pywebpush_extrapolated_drain", per_message_s * setup.residents, "s"),
        ("pywebpush_sink_messages", stats["total"], "messages"),
        ("pywebpush_sample_failures", stats["sample_failures"], "messages"),
    ]


async def _bench(dsn: str, bootstrap: str, broker_pid: int, args: argparse.Namespace) -> Figures:
    """Everything between creating the database and dropping it."""
    n = args.residents
    vapid: VapidKey = generate_vapid_key()
    private, public = _browser_keys(BROWSER_KEYS)
    sink, sink_url = _start_sink(SinkConfig(n, private, vapid.public_bytes, LANGUAGES))
    pids = {"sink": [sink.pid or 0], "broker": [broker_pid], "bench": [os.getpid()]}
    setup = Setup(dsn, bootstrap, vapid.private_pem(), sink_url, n, args.workers, args.batch,
                  args.shared_compose, pids)  # fmt: skip
    pool = await asyncpg.create_pool(dsn, init=_connection_init)
    http = aiohttp.ClientSession()
    figures: Figures = [("residents", n, "residents")]
    try:
        ids = [uuid.uuid4() for _ in range(n)]
        started = time.perf_counter()
        async with pool.acquire() as conn:
            await _populate(conn, ids, sink_url, public)
            alert = _alert()
            await store.insert_alert(conn, alert)
        print(f"populated {n:,} residents in {time.perf_counter() - started:.0f} s")
        figures += await _peer(http, setup, alert, ids, public)
        for run, processes in enumerate(args.processes):
            figures += await _refill(pool, bootstrap, alert, run == 0)
            await _reset_sink(http, sink_url, alert)
            tag = f"{processes}proc" + ("_shared_compose" if args.shared_compose else "")
            print(f"draining {n:,} push rows with {processes} process(es) of {args.workers} "
                  f"workers, batch {args.batch} ({tag})")  # fmt: skip
            timing = await _deliver(pool, http, setup, processes)
            outcome = await _outcome(pool, alert)
            stats = await _sink_stats(http, sink_url) | {"expected": n}
            figures += _run_figures(tag, timing, outcome, stats)
    finally:
        await http.close()
        await pool.close()
        sink.terminate()
        sink.join(10)
    return figures


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{value:.0f}"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:.{digits}f}"


def _report(figures: Figures, residents: int) -> None:
    got = {name: value for name, value, _ in figures}
    peer = got["pywebpush_deliveries_per_s"]
    for name, value, unit in figures:
        print(f"bench: {name} = {_fmt(value)} {unit}")
    size = "" if residents >= 1_000_000 else f" ({residents:,} residents, not 1,000,000)"
    for name, rate in got.items():
        if not name.endswith("_deliveries_per_s") or not name.startswith("fanout_"):
            continue
        tag = name.removeprefix("fanout_").removesuffix("_deliveries_per_s")
        print(f"bench: fanout_{tag}_to_pywebpush = {_fmt(rate / peer)} x")
        goal = GOAL_PER_S * (2 if tag.startswith("2proc") else 1)
        verdict = "met" if rate >= goal else "NOT met"
        print(f"goal: {goal:,.0f}/s ({tag}): {rate:,.0f}/s, {verdict}{size}")


async def main(args: argparse.Namespace) -> None:
    """Create the database and broker, run, drop them, print the figures."""
    server = os.environ.get("DISASTER_DATABASE_URL", DSN)
    name = f"bench_fanout_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    broker = EmbeddedKafka(Path(tempfile.mkdtemp(prefix="bench-broker-")))
    bootstrap = broker.start()
    try:
        await ensure_topics(bootstrap, topics.PARTITIONS, topics.COMPACTED)
        dsn = with_database(server, name)
        await migrate(dsn)
        assert broker.record is not None
        figures = await _bench(dsn, bootstrap, broker.record.pid, args)
    finally:
        broker.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    _report(figures, args.residents)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="20,000 residents")
    parser.add_argument("--residents", type=int, help="residents (default 1,000,000)")
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        choices=(1, 2),
        default=[1, 2],
        help="delivery processes per run, one run each (default: 1 then 2)",
    )
    parser.add_argument("--workers", type=int, default=4, help="delivery workers per process")
    parser.add_argument("--batch", type=int, default=500, help="rows claimed per batch")
    parser.add_argument(
        "--shared-compose",
        action="store_true",
        help="compose once per language (SharingPersonalComposer) instead of per resident",
    )
    parsed = parser.parse_args()
    parsed.residents = parsed.residents or (20_000 if parsed.quick else 1_000_000)
    asyncio.run(main(parsed))
