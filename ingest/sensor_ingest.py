"""The sensor ingestor (``sensor.raw``) and the watch that notices silent sensors.

A threshold is announced when a quantity rises to a higher severity, not on every reading
above it. Water over a road at danger depth closes that road on ``road.closures``; it reopens
once the water is back below the warning depth, so a level hovering at 30 cm does not flap.
Event time, not arrival order, decides: a reading older than the last one evaluated for its
sensor and kind re-evaluates that sensor and kind from its own time, over the stored readings.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord

from disaster import incident_store, sensor_store, store, topics
from disaster._kafka import Rejection, encode_json
from disaster.domain import GeoPoint, HazardEvent, InvalidInputError, SensorEvent
from disaster.domain.roads import RoadClosure, closure_geometry
from disaster.domain.sensor import SensorReading
from disaster.exercise import exercise_run_of
from ingest.sensor import SensorHazard, SensorThresholds, parse_sensor, sensor_hazard

__all__ = ["SensorIngestor", "SilentSensorWatch", "sensor_closure_id"]

_log = logging.getLogger(__name__)
_EVENT_NAMESPACE = uuid.UUID("9a7c3e1f-4b2d-4f6a-8e5c-1d3b7f9a2c64")
_RANK = {"none": 0, "warning": 1, "danger": 2}


def sensor_closure_id(sensor_id: str) -> str:
    """Return the id of the road closure a water-depth sensor causes."""
    return f"sensor:{sensor_id}"


async def publish(
    producer: AIOKafkaProducer, events: list[HazardEvent], closures: list[RoadClosure]
) -> None:
    """Send stored events and closure states on (after their transaction committed)."""
    for event in events:
        body = encode_json(event.model_dump(mode="json"))
        await producer.send(topics.HAZARD_EVENTS, body, key=event.area_name.encode())
    for closure in closures:
        body = encode_json(closure.model_dump(mode="json"))
        await producer.send(topics.ROAD_CLOSURES, body, key=closure.id.encode())
    await producer.flush()


class SensorIngestor:
    """Handles ``sensor.raw`` batches: plain readings, NGSI entities, MQTT-bridged messages.

    A fetched batch is stored in one transaction with bulk statements; thresholds are
    evaluated per sensor and kind in event-time order, whatever order readings arrive in: new
    readings newer than the last evaluated one go on from its state, and a late one re-evaluates
    its own sensor and kind from its own time over the stored readings.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        thresholds: SensorThresholds | None = None,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._thresholds = thresholds or SensorThresholds()

    async def handle_batch(self, records: list[ConsumerRecord]) -> list[Rejection]:
        """Store every reading of a batch, then publish what it caused; return the rejects."""
        rejected: list[Rejection] = []
        readings: list[SensorReading] = []
        drills: dict[tuple[str, str, datetime], str] = {}
        for record in records:
            try:
                parsed = parse_sensor(record.value)
            except InvalidInputError as exc:
                rejected.append((record, exc.reason))
                continue
            readings += parsed
            if run := exercise_run_of(record):
                drills |= {_reading_key(r): run for r in parsed}
        if not readings:
            return rejected
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                events, changes, redelivered = await self._store(conn, readings, drills)
            if redelivered:  # publish again what they caused before a crash
                events += await store.hazard_events_by_ids(
                    conn, [_event_id(r) for r in redelivered]
                )
            flooded = {
                sensor_closure_id(r.sensor_id) for r in redelivered if r.kind == "water_depth"
            }
            again = [await incident_store.road_closure_by_id(conn, c) for c in sorted(flooded)]
        await publish(self._producer, events, [c for c in again if c is not None] + changes)
        return rejected

    async def _store(
        self,
        conn: asyncpg.Connection,
        readings: list[SensorReading],
        drills: dict[tuple[str, str, datetime], str],
    ) -> tuple[list[HazardEvent], list[RoadClosure], list[SensorReading]]:
        """Store and evaluate; return the events announced for the first time, the closure
        changes in order, and the readings stored before (redeliveries: what they caused is
        published again)."""
        await sensor_store.touch_sensors(conn, readings)
        new = await sensor_store.insert_sensor_readings(conn, readings)
        watched: dict[tuple[str, str], dict[datetime, SensorReading]] = {}
        redelivered = []
        for reading in readings:
            if _reading_key(reading) not in new:
                redelivered.append(reading)
            elif self._thresholds.levels(reading.kind) is not None:
                key = (reading.sensor_id, reading.kind)  # a reading given twice counts once
                watched.setdefault(key, {}).setdefault(reading.observed_at, reading)
        keys = sorted(watched)
        states = await sensor_store.lock_sensor_states(conn, keys)
        changed: dict[tuple[str, str], tuple[str, datetime]] = {}
        events: list[HazardEvent] = []
        closures: list[RoadClosure] = []
        for key in keys:
            batch = [watched[key][at] for at in sorted(watched[key])]
            outcome = await self._evaluate(conn, batch, states[key], drills)
            changed[key] = outcome.state
            events += outcome.events
            closures += outcome.closures
        if changed:
            await sensor_store.set_sensor_states(conn, changed)
        announced = await store.insert_hazard_events(conn, events) if events else set()
        return [e for e in events if e.id in announced], closures, redelivered

    async def _evaluate(
        self,
        conn: asyncpg.Connection,
        batch: list[SensorReading],
        state: tuple[str, datetime | None],
        drills: dict[tuple[str, str, datetime], str],
    ) -> _Outcome:
        """Evaluate one sensor kind's new readings (oldest first) and write its road closure.

        Readings newer than the state's go on from it; when the oldest is not (a late reading),
        the stored readings are walked again from it, from the state its predecessor left.
        """
        first = batch[0]
        severity, since = state
        late = since is not None and first.observed_at <= since
        stored = None
        if first.kind == "water_depth":
            stored = await incident_store.road_closure_by_id(
                conn, sensor_closure_id(first.sensor_id)
            )
        closure, readings = stored, batch
        if late:
            severity, closure, readings = await self._replay_start(conn, first)
        # A drill tags its sensor ids (drill.localise): the key's stored readings are its too.
        run = next((drills[k] for k in map(_reading_key, batch) if k in drills), None)
        outcome = self._walk(
            readings, severity, closure, lambda r: drills.get(_reading_key(r), run),
            told=state if late else None,
        )  # fmt: skip
        return replace(outcome, closures=await _settle_closure(conn, stored, outcome.closures))

    async def _replay_start(
        self, conn: asyncpg.Connection, first: SensorReading
    ) -> tuple[str, RoadClosure | None, list[SensorReading]]:
        """Return the severity and road closure a sensor kind had just before ``first`` (as
        its stored readings decide them) and its stored readings from ``first`` on."""
        sensor_id, kind = first.sensor_id, first.kind
        before, readings = await sensor_store.readings_from(
            conn, sensor_id, kind, first.observed_at
        )
        hazard = sensor_hazard(before, self._thresholds) if before is not None else None
        severity = hazard.severity if hazard else "none"
        levels = self._thresholds.levels(kind)
        if kind != "water_depth" or levels is None:
            return severity, None, readings
        warning, danger = levels
        decided = await sensor_store.last_reading_out_of_band(
            conn, sensor_id, kind, first.observed_at, low=warning, high=danger
        )  # the road was closed after danger depth with a place, open after below warning
        if decided is None or decided.location is None or decided.value < danger:
            return severity, None, readings
        return severity, _closed_road(decided, decided.location), readings

    def _walk(
        self,
        readings: list[SensorReading],
        severity: str,
        closure: RoadClosure | None,
        run_of: Callable[[SensorReading], str | None],
        told: tuple[str, datetime | None] | None = None,
    ) -> _Outcome:
        """Evaluate readings of one sensor kind in event-time order from a severity and a road
        closure: every rise in severity is a threshold event, every closure change is kept.

        ``told`` is the state before a late reading (severity, time): a rise at or before that
        time to no more than that severity was told already in effect, and a warning after the
        danger in force would read as easing, so it is not announced.
        """
        events: list[HazardEvent] = []
        changes: list[RoadClosure] = []
        for reading in readings:
            hazard = sensor_hazard(reading, self._thresholds)
            if (
                hazard is not None
                and _RANK[hazard.severity] > _RANK[severity]
                and not _told_already(reading, hazard, told)
            ):
                events.append(
                    _threshold_event(reading, hazard.severity, hazard.threshold, run_of(reading))
                )
            severity = hazard.severity if hazard else "none"
            if change := _next_closure(closure, reading, hazard):
                closure = change
                changes.append(change)
        return _Outcome((severity, readings[-1].observed_at), events, changes)


@dataclass(frozen=True)
class _Outcome:
    """What evaluating one sensor kind's readings left: its state (severity, time of the
    newest reading), the threshold events, the road closure changes in order."""

    state: tuple[str, datetime]
    events: list[HazardEvent]
    closures: list[RoadClosure]


def _told_already(
    reading: SensorReading, hazard: SensorHazard, told: tuple[str, datetime | None] | None
) -> bool:
    if told is None or told[1] is None:
        return False
    severity, since = told
    return reading.observed_at <= since and _RANK[hazard.severity] <= _RANK[severity]


def _reading_key(reading: SensorReading) -> tuple[str, str, datetime]:
    return reading.sensor_id, reading.kind, reading.observed_at


def _event_id(reading: SensorReading) -> uuid.UUID:
    key = f"{reading.sensor_id}:{reading.kind}:{reading.observed_at.isoformat()}"
    return uuid.uuid5(_EVENT_NAMESPACE, key)


def _threshold_event(
    reading: SensorReading, severity: str, threshold: float, exercise_run: str | None
) -> SensorEvent:
    return SensorEvent(
        id=_event_id(reading),
        kind="sensor.threshold",
        observed_at=reading.observed_at,
        area_name=f"sensor {reading.sensor_id}",
        location=reading.location,
        sensor_id=reading.sensor_id,
        sensor_kind=reading.kind,
        severity=severity,  # type: ignore[arg-type]
        value=reading.value,
        threshold=threshold,
        exercise_run=exercise_run,
    )


def _closed_road(reading: SensorReading, location: GeoPoint) -> RoadClosure:
    """Return the closure of the road a water-depth sensor at ``location`` watches."""
    return RoadClosure(
        id=sensor_closure_id(reading.sensor_id), source="sensor", source_id=reading.sensor_id,
        geometry=closure_geometry(location, None),
        reason=f"water {reading.value:.2f} m deep on the road",
        active=True, changed_at=reading.observed_at,
    )  # fmt: skip


def _next_closure(
    closure: RoadClosure | None, reading: SensorReading, hazard: SensorHazard | None
) -> RoadClosure | None:
    """Return the closure's state after a reading that closes the road (danger depth, with a
    place) or reopens it (below warning), or None when the reading leaves it as it is."""
    active = closure is not None and closure.active
    if hazard is not None and hazard.closes_road and not active and reading.location is not None:
        return _closed_road(reading, reading.location)
    if closure is not None and closure.active and hazard is None:
        return closure.model_copy(update={"active": False, "changed_at": reading.observed_at})
    return None


async def _settle_closure(
    conn: asyncpg.Connection, stored: RoadClosure | None, changes: list[RoadClosure]
) -> list[RoadClosure]:
    """Write the closure's final state; return the changes to publish, none when a walk ends
    where the stored closure already stands (a late reading that changed nothing in force)."""
    if not changes:
        return []
    last = changes[-1]
    if stored is not None and (stored.active, stored.changed_at) == (last.active, last.changed_at):
        return []
    await incident_store.upsert_road_closure(conn, last)
    return changes


class SilentSensorWatch:
    """Every ``period_s``, announce the sensors that missed their expected interval."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, period_s: float) -> None:
        self._pool = pool
        self._producer = producer
        self._period_s = period_s

    async def run(self) -> None:
        """Watch until cancelled; a failed round is logged and tried again next period."""
        while True:
            try:
                await self.check()
            except (OSError, asyncpg.PostgresError):
                _log.exception("silent-sensor check failed; retrying next period")
            await asyncio.sleep(self._period_s)

    async def check(self) -> list[SensorEvent]:
        """Flag and announce the sensors that fell silent since the last check."""
        async with self._pool.acquire() as conn, conn.transaction():
            events = [_silent_event(row) for row in await sensor_store.mark_silent_sensors(conn)]
            for event in events:
                await store.insert_hazard_event(conn, event)
        await publish(self._producer, list(events), [])
        return events


def _silent_event(row: dict) -> SensorEvent:
    last_seen: datetime = row["last_seen_at"]
    has_place = row["lat"] is not None and row["lon"] is not None
    return SensorEvent(
        id=uuid.uuid5(_EVENT_NAMESPACE, f"silent:{row['id']}:{last_seen.isoformat()}"),
        kind="sensor.silent",
        observed_at=last_seen,
        area_name=f"sensor {row['id']}",
        location=GeoPoint(lat=row["lat"], lon=row["lon"]) if has_place else None,
        sensor_id=row["id"],
        sensor_kind="any",
        severity="silent",
    )
