"""The sensor ingestor (``sensor.raw``) and the watch that notices silent sensors.

A threshold is announced when a quantity rises to a higher severity, not on every reading
above it. Water over a road at danger depth closes that road on ``road.closures``; it reopens
once the water is back below the warning depth, so a level hovering at 30 cm does not flap.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
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
    evaluated reading by reading, in order, per sensor and kind.
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
                drills |= {(r.sensor_id, r.kind, r.observed_at): run for r in parsed}
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
        """Store and evaluate; return the new events, the closure changes in order, and the
        readings stored before (redeliveries: what they caused is published again)."""
        await sensor_store.touch_sensors(conn, readings)
        new = await sensor_store.insert_sensor_readings(conn, readings)
        fresh, redelivered = [], []
        for reading in readings:
            key = (reading.sensor_id, reading.kind, reading.observed_at)
            (fresh if key in new else redelivered).append(reading)
        watched = [r for r in fresh if self._thresholds.levels(r.kind) is not None]
        keys = sorted({(r.sensor_id, r.kind) for r in watched})
        states = await sensor_store.lock_sensor_states(conn, keys)
        changed: dict[tuple[str, str], tuple[str, datetime]] = {}
        events: list[HazardEvent] = []
        closures: list[RoadClosure] = []
        for reading in watched:
            key = (reading.sensor_id, reading.kind)
            severity, since = states[key]
            if since is not None and reading.observed_at <= since:
                continue  # a late reading: stored, not evaluated
            hazard = sensor_hazard(reading, self._thresholds)
            new_severity = hazard.severity if hazard else "none"
            states[key] = changed[key] = (new_severity, reading.observed_at)
            if hazard is not None and _RANK[new_severity] > _RANK[severity]:
                drill = drills.get((reading.sensor_id, reading.kind, reading.observed_at))
                events.append(_threshold_event(reading, new_severity, hazard.threshold, drill))
            if reading.kind == "water_depth":
                closure = await _update_closure(conn, reading, hazard)
                closures += [closure] if closure else []
        if changed:
            await sensor_store.set_sensor_states(conn, changed)
        if events:
            await store.insert_hazard_events(conn, events)
        return events, closures, redelivered


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


async def _update_closure(
    conn: asyncpg.Connection, reading: SensorReading, hazard: SensorHazard | None
) -> RoadClosure | None:
    """Close (at danger) or reopen (below warning) the road the sensor watches; return the
    closure's new state, or None when it did not change."""
    closure_id = sensor_closure_id(reading.sensor_id)
    current = await incident_store.road_closure_by_id(conn, closure_id)
    active = current is not None and current.active
    close, below_warning = hazard is not None and hazard.closes_road, hazard is None
    if close and not active and reading.location is not None:
        closure = RoadClosure(
            id=closure_id, source="sensor", source_id=reading.sensor_id,
            geometry=closure_geometry(reading.location, None),
            reason=f"water {reading.value:.2f} m deep on the road",
            active=True, changed_at=reading.observed_at,
        )  # fmt: skip
        await incident_store.upsert_road_closure(conn, closure)
        return closure
    if active and below_warning and current is not None:
        reopened = current.model_copy(update={"active": False, "changed_at": reading.observed_at})
        await incident_store.upsert_road_closure(conn, reopened)
        return reopened
    return None


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
