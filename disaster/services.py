"""Run the roles of the service in this process: ingest, notify (rules and delivery), web.

Every role is stateless apart from Postgres and Kafka, so scaling out is starting more
processes with the same role: Kafka's consumer groups share the partitions between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaProducer, ConsumerRecord

from disaster import store, topics
from disaster._kafka import BatchHandler, ConsumerLoop, ensure_topics, new_producer, one_at_a_time
from disaster._pg import apply_migrations, create_pool
from disaster.access_log import PathOnlyAccessLogger
from disaster.alert_rules import load_rulebook
from disaster.app import create_app
from disaster.health import HealthBoard
from disaster.ingress import BrokerWatch, IngressPublisher
from disaster.retention import run_retention
from disaster.route_api import LiveRoutes
from disaster.rules import AlertIssuer
from disaster.settings import Settings, parse_mqtt_url
from ingest.incident import IncidentIngestor
from ingest.jma import load_level_map
from ingest.mqtt_bridge import MqttBridge
from ingest.river import RiverIngestor
from ingest.sensor_ingest import SensorIngestor, SilentSensorWatch
from ingest.weather import WeatherIngestor
from notify.compose import PersonalComposer
from notify.delivery import DeliveryWorker
from notify.messages import load_catalogue
from notify.notifier import Notifier
from notify.ssrf import EndpointPolicy
from notify.vapid import VapidSigner, load_or_create_vapid_key
from notify.webhook import WebhookWorker
from notify.webpush import SenderLimits, WebPushSender, new_push_session

__all__ = ["ROLES", "Role", "Running", "running_services"]

_log = logging.getLogger(__name__)

Role = Literal["all", "ingest", "notify", "web"]
ROLES: tuple[Role, ...] = ("all", "ingest", "notify", "web")

#: How long a stop waits for the pool's connections to come back (a query stuck on a lock,
#: say) before it closes them anyway: a stop must end, or a supervisor's restart waits on it.
POOL_CLOSE_WAIT_S = 10.0


@dataclass
class Running:
    """What a started process holds: its pool, producer, and the web address if it serves."""

    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    base_url: str | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    watch: BrokerWatch | None = None
    health: HealthBoard = field(default_factory=HealthBoard)


def _rejection_recorder(pool: asyncpg.Pool):
    async def record(rec: ConsumerRecord, reason: str) -> None:
        async with pool.acquire() as conn:
            await store.record_rejected(
                conn, topic=rec.topic, partition=rec.partition, offset=rec.offset,
                key=rec.key, value=rec.value, reason=reason,
            )  # fmt: skip

    return record


def consumer_loops(
    settings: Settings, pool: asyncpg.Pool, producer: AIOKafkaProducer, role: Role
) -> list[ConsumerLoop]:
    """Return the consumers a role runs, each in its own consumer group."""
    assert settings.kafka is not None
    prefix = settings.group_prefix
    plan: list[tuple[str, str, BatchHandler, str | None]] = []
    if role in ("all", "ingest"):
        river = RiverIngestor(pool, producer, hysteresis_m=settings.river_hysteresis_m)
        weather = WeatherIngestor(pool, producer, load_level_map(settings.jma_levels_file))
        incident = IncidentIngestor(pool, producer)
        sensor = SensorIngestor(pool, producer)
        plan += [
            (topics.SENSOR_RAW, f"{prefix}.ingest.sensor", sensor.handle_batch, topics.SENSOR_DLQ),
            (topics.RIVER_RAW, f"{prefix}.ingest.river", river.handle_batch, topics.RIVER_DLQ),
            (topics.WEATHER_RAW, f"{prefix}.ingest.weather", one_at_a_time(weather.handle),
             topics.WEATHER_DLQ),
            (topics.INCIDENT_RAW, f"{prefix}.ingest.incident", one_at_a_time(incident.handle),
             topics.INCIDENT_DLQ),
        ]  # fmt: skip
    if role in ("all", "notify"):
        rules = one_at_a_time(
            AlertIssuer(pool, producer, load_rulebook(settings.alert_rules_file)).handle
        )
        notify = one_at_a_time(Notifier(pool, producer).handle)
        plan += [
            (topics.HAZARD_EVENTS, f"{prefix}.rules", rules, None),
            (topics.ALERTS, f"{prefix}.notify", notify, None),
        ]
    recorder = _rejection_recorder(pool)
    return [
        ConsumerLoop(bootstrap=settings.kafka, topic=topic, group_id=group, handler=handler,
                     producer=producer, dlq_topic=dlq, on_reject=recorder)
        for topic, group, handler, dlq in plan
    ]  # fmt: skip


@contextlib.asynccontextmanager
async def _delivery_workers(
    settings: Settings, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run the notify role's push delivery workers over one shared push session."""
    policy = EndpointPolicy(allow_insecure_loopback=settings.push_allow_loopback)
    limits = SenderLimits()
    signer = VapidSigner(load_or_create_vapid_key(settings.vapid_path),
                         subject=settings.vapid_subject)  # fmt: skip
    async with new_push_session(policy, limits) as session:
        sender = WebPushSender(session, signer, policy=policy, limits=limits)
        composer = PersonalComposer(pool, LiveRoutes(settings), settings.public_url)
        workers = [DeliveryWorker(pool, producer, sender, composer)
                   for _ in range(settings.delivery_workers)]  # fmt: skip
        tasks = [asyncio.create_task(w.run(), name=f"delivery worker {i}")
                 for i, w in enumerate(workers)]  # fmt: skip
        hooks = WebhookWorker(pool, session, policy, settings, load_catalogue())
        tasks.append(asyncio.create_task(hooks.run(), name="webhook worker"))
        try:
            yield tasks
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _ingest_side_tasks(
    settings: Settings, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> list[asyncio.Task[None]]:
    """Start the ingest role's non-Kafka work: the silent-sensor watch and the MQTT bridge."""
    watch = SilentSensorWatch(pool, producer, settings.sensor_watch_period_s)
    tasks = [asyncio.create_task(watch.run(), name="silent-sensor watch")]
    if settings.mqtt_url:
        client_id = f"{settings.group_prefix}-mqtt-bridge"
        bridge = MqttBridge(parse_mqtt_url(settings.mqtt_url), pool, client_id)
        tasks.append(asyncio.create_task(bridge.run(), name="mqtt bridge"))
    return tasks


def _problem(loop: ConsumerLoop) -> str | None:
    return loop.problem


async def migrate(database_url: str) -> list[str]:
    """Apply pending migrations; return the names of those applied."""
    conn = await asyncpg.connect(database_url)
    try:
        return [f"{m.version:04d}_{m.name}" for m in await apply_migrations(conn)]
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def running_services(settings: Settings, role: Role = "all") -> AsyncIterator[Running]:
    """Migrate, then run the role's consumers (and web app) until the context exits."""
    assert settings.kafka is not None
    assert settings.database_url is not None
    await migrate(settings.database_url)
    await ensure_topics(settings.kafka, topics.PARTITIONS, topics.COMPACTED)
    pool = await create_pool(settings.database_url)
    producer = new_producer(settings.kafka)
    await producer.start()
    running = Running(pool=pool, producer=producer)
    runner: web.AppRunner | None = None
    stack = contextlib.AsyncExitStack()
    try:
        watch = running.watch = BrokerWatch(settings.kafka, producer)
        running.health.watch("broker watch", lambda: watch.problem)
        for loop in consumer_loops(settings, pool, producer, role):
            watch.on_forgotten(loop.rewind)
            running.health.watch(f"consumer {loop.topic}", functools.partial(_problem, loop))
            running.tasks.append(asyncio.create_task(loop.run(), name=f"consume {loop.topic}"))
        if role != "notify":  # the roles that accept input: the web API and the MQTT bridge
            publisher = IngressPublisher(pool, producer, watch=watch)
            watch.on_forgotten(publisher.republish)
            running.tasks.append(asyncio.create_task(publisher.run(), name="ingress publisher"))
        running.tasks.append(asyncio.create_task(watch.run(), name="broker watch"))
        if role in ("all", "ingest"):
            running.tasks += _ingest_side_tasks(settings, pool, producer)
        if role in ("all", "notify"):
            running.tasks += await stack.enter_async_context(
                _delivery_workers(settings, pool, producer)
            )
        if role in ("all", "web"):  # the web role is where residents give their locations
            running.tasks.append(asyncio.create_task(run_retention(pool), name="retention"))
            runner = web.AppRunner(
                create_app(settings, health=running.health),
                shutdown_timeout=2.0,
                access_log_class=PathOnlyAccessLogger,
            )
            await runner.setup()
            site = web.TCPSite(runner, settings.http_host, settings.http_port)
            await site.start()
            host, port = runner.addresses[0][:2]
            running.base_url = f"http://{host}:{port}"
        gc.freeze()  # start-up objects live as long as the process: keep them out of full GCs
        yield running
    finally:
        await stack.aclose()
        for task in running.tasks:
            task.cancel()
        await asyncio.gather(*running.tasks, return_exceptions=True)
        if runner is not None:
            await runner.cleanup()
        await producer.stop()
        await _close_pool(pool)


async def _close_pool(pool: asyncpg.Pool) -> None:
    """Close the pool, terminating connections still in use after ``POOL_CLOSE_WAIT_S``
    (asyncpg waits for them without end, then terminates the pool if cancelled)."""
    try:
        async with asyncio.timeout(POOL_CLOSE_WAIT_S):
            await pool.close()
    except TimeoutError:
        _log.warning("database connections still in use after %g s: closed", POOL_CLOSE_WAIT_S)
