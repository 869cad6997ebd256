"""Replaying a scenario through the running service, as a drill run.

Inputs go to the same Kafka topics the real sources write to, marked with the run's exercise
header; nothing downstream is drill-specific. A drill is input the system itself accepts, so its
records are kept in Postgres first (:func:`disaster.ingress.accept`) and published by the
service's ingress publisher, like residents' reports: a broker that restarts empty mid-drill
is given them again. ``virtual``: each step is accepted in one transaction, then the runner
waits until the broker has it (:func:`disaster.ingress.published`) and the pipeline has consumed
it (:class:`PipelineProgress`) before the next, and times come from the scenario's clock, so
the same scenario gives the same decisions on every run. Otherwise steps are accepted at
``speed`` times real time. When the last step is
processed the drill ends as HQ would end it: the run's incidents are resolved (reopening the
roads they closed) and its shelters closed, so nothing of the drill stays in force.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from disaster import ingress, resident_store, shelter_store, topics
from disaster._kafka import encode_json
from disaster.domain.resident import AnswerIn
from disaster.drill.localise import Localiser
from disaster.drill.observe import Observer
from disaster.drill.progress import PipelineProgress
from disaster.drill.scenario import KAFKA_TOPICS, Scenario, ScenarioEvent
from disaster.drill.seed import city_graph, seed_run
from disaster.exercise import EXERCISE_HEADER
from disaster.settings import Settings

__all__ = ["DrillOptions", "DrillRun", "StepHook", "run_drill"]

_log = logging.getLogger(__name__)

#: Called after each step is observed: its scenario offset (s), its events, the observer. An
#: awaitable it returns is awaited before the next step (to look at the database, say).
StepHook = Callable[[float, list[ScenarioEvent], Observer], Awaitable[None] | None]


@dataclass(frozen=True)
class DrillOptions:
    """How to replay: on the virtual clock, or at ``speed`` times real time."""

    virtual: bool = True
    speed: float = 60.0
    step_timeout_s: float = 60.0
    run_id: uuid.UUID | None = None


@dataclass
class DrillRun:
    """A finished run: its id, what it observed, how long it took."""

    run_id: uuid.UUID
    scenario: Scenario
    options: DrillOptions
    observer: Observer
    dlq: dict[str, int]
    wall_s: float


async def run_drill(
    settings: Settings,
    pool: asyncpg.Pool,
    scenario: Scenario,
    options: DrillOptions,
    *,
    on_step: StepHook | None = None,
) -> DrillRun:
    """Seed, replay and observe one run of ``scenario``; return what it observed.

    A service that publishes accepted input (any role but ``notify``) must be running, in this
    process or another, with ``settings.group_prefix``'s consumer groups.
    """
    assert settings.kafka is not None
    run_id = options.run_id or uuid.uuid4()
    start = scenario.header.start
    epoch = start if options.virtual else datetime.now(UTC).replace(microsecond=0)
    localiser = Localiser(run_id, shift=epoch - start)
    loop = asyncio.get_running_loop()
    graph = await loop.run_in_executor(None, city_graph, scenario.header.city, scenario.source)
    async with pool.acquire() as conn:
        seeded = await seed_run(conn, scenario, localiser)
    observer = Observer(localiser, seeded, graph, epoch, speed=options.speed)
    timeout_s = options.step_timeout_s
    accepted: list[int] = []
    if not options.virtual:  # scenario time 0 is when pacing starts, on the database's clock
        async with pool.acquire() as conn:
            observer.wall0 = await conn.fetchval("SELECT clock_timestamp()")
    began = time.monotonic()
    async with PipelineProgress(settings.kafka, settings.group_prefix) as progress:
        for offset_s, grouped in itertools.groupby(scenario.events, key=lambda e: e.offset_s):
            step = list(grouped)
            if not options.virtual:
                await asyncio.sleep(max(0.0, began + offset_s / options.speed - time.monotonic()))
            ids = await _apply_step(pool, localiser, observer, step)
            accepted += ids
            if options.virtual:
                await _wait_published(pool, ids, timeout_s=timeout_s)
                await progress.wait_caught_up(timeout_s=timeout_s)
            async with pool.acquire() as conn:
                await observer.observe(conn, offset_s)
            if on_step is not None:
                done = on_step(offset_s, step, observer)
                if inspect.isawaitable(done):
                    await done
        await _wait_published(pool, accepted, timeout_s=timeout_s)
        await progress.wait_caught_up(timeout_s=timeout_s)
        last_s = scenario.events[-1].offset_s if scenario.events else 0.0
        async with pool.acquire() as conn:
            await observer.observe(conn, last_s)
        ended = await _end_drill(pool, localiser, epoch + timedelta(seconds=last_s))
        await _wait_published(pool, ended, timeout_s=timeout_s)
        await progress.wait_caught_up(timeout_s=timeout_s)
    wall_s = time.monotonic() - began
    async with pool.acquire() as conn:
        await _close_shelters(conn, seeded.shelters)
        dlq = await _dlq_counts(conn, localiser.tag)
    return DrillRun(run_id, scenario, options, observer, dlq, wall_s)


async def _wait_published(pool: asyncpg.Pool, ids: Sequence[int], *, timeout_s: float) -> None:
    """Wait until the broker has acknowledged these accepted records (see :mod:`ingress`)."""
    deadline = time.monotonic() + timeout_s
    while ids:
        async with pool.acquire() as conn:
            if await ingress.published(conn, ids):
                return
        if time.monotonic() > deadline:
            msg = (f"the drill's input was not published within {timeout_s} s: is a service "
                   "that publishes accepted input (any role but notify) running?")  # fmt: skip
            raise TimeoutError(msg)
        await asyncio.sleep(0.02)


async def _apply_step(
    pool: asyncpg.Pool, localiser: Localiser, observer: Observer, step: list[ScenarioEvent]
) -> list[int]:
    """Accept a step's Kafka inputs in one transaction (published together, in order), and do
    what shelter staff or residents do over HTTP; return the accepted records' ids."""
    headers = {EXERCISE_HEADER: str(localiser.run_id)}
    ids = []
    async with pool.acquire() as conn:
        async with conn.transaction():
            for event in step:
                if event.topic in KAFKA_TOPICS:
                    value, key = localiser.value(event), localiser.key(event)
                    ids.append(await ingress.accept(conn, event.topic, key, value, headers))
        for event in step:
            if event.topic not in KAFKA_TOPICS:
                await _act(conn, observer, event)
    return ids


async def _act(conn: asyncpg.Connection, observer: Observer, event: ScenarioEvent) -> None:
    """Do what shelter staff (``shelter.status``) or a resident (``resident.answer``) do."""
    payload = event.payload
    if event.topic == "shelter.status":
        await shelter_store.set_shelter_status(
            conn, observer.localiser.own(payload["shelter_id"]),
            open_=bool(payload.get("open", True)), occupancy=int(payload["occupancy"]),
        )  # fmt: skip
    else:  # resident.answer
        resident = observer.residents[int(payload["resident"])]
        answer = AnswerIn(status=payload["status"], note="drill")
        await resident_store.insert_answer(conn, resident.id, answer)


async def _end_drill(pool: asyncpg.Pool, localiser: Localiser, at: datetime) -> list[int]:
    """Resolve the run's open incidents through the pipeline, as HQ closes a drill; return
    the accepted records' ids."""
    headers = {EXERCISE_HEADER: str(localiser.run_id)}
    key = f"{localiser.tag}.resolve".encode()
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id FROM incidents WHERE id = ANY($1::uuid[]) AND status = 'open' ORDER BY id",
            localiser.opened_incidents(),
        )
        ids = []
        for row in rows:
            body = {
                "action": "resolve",
                "incident_id": str(row["id"]),
                "resolved_at": at.isoformat(),
                "resolved_by": {"role": "staff", "id": "drill"},
            }
            value = encode_json(body)
            ids.append(await ingress.accept(conn, topics.INCIDENT_RAW, key, value, headers))
    return ids


async def _close_shelters(conn: asyncpg.Connection, shelters: list) -> None:
    for shelter in shelters:
        await shelter_store.set_shelter_status(conn, shelter.id, open_=False, occupancy=0)


async def _dlq_counts(conn: asyncpg.Connection, tag: str) -> dict[str, int]:
    """Count the run's rejected inputs per topic (their keys start with the run's tag).

    Keys are compared as bytes: a rejected record's key may be anything, UTF-8 or not.
    """
    prefix = f"{tag}.".encode()
    rows = await conn.fetch(
        """SELECT topic, count(*) AS n FROM rejected_inputs
           WHERE substring(record_key FROM 1 FOR octet_length($1::bytea)) = $1::bytea
           GROUP BY topic ORDER BY topic""",
        prefix,
    )
    return {row["topic"]: int(row["n"]) for row in rows}
