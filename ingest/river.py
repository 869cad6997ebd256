"""The river-gauge ingestor: ``river.raw`` readings in, hazard events out.

Parsing is pure; :class:`RiverIngestor` does the I/O. A reading is stored and the station's
stage advanced in one transaction, and the hazard events are written to Postgres before they are
produced to Kafka, so a crash between the two is healed by the redelivered reading.
"""

from __future__ import annotations

import json
import logging

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from pydantic import ValidationError

from disaster import store, topics
from disaster._kafka import encode_json, summarise_errors
from disaster.domain import InvalidInputError, RiverReading, RiverStageEvent, Station
from disaster.domain.levels import alert_level_for_stage
from disaster.domain.river import StageChange, evaluate_reading, hazard_event_id

__all__ = ["RiverIngestor", "check_plausible", "parse_reading"]

_log = logging.getLogger(__name__)
_MAX_READING_BYTES = 4096


def parse_reading(raw: bytes | None) -> RiverReading:
    """Parse one ``river.raw`` value, raising :class:`InvalidInputError` with a short reason."""
    if raw is None:
        msg = "empty record: a reading needs station_id, level_m and observed_at"
        raise InvalidInputError(msg)
    if len(raw) > _MAX_READING_BYTES:
        msg = f"reading is {len(raw)} bytes, more than {_MAX_READING_BYTES}"
        raise InvalidInputError(msg)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"not JSON: {exc}"
        raise InvalidInputError(msg) from None
    try:
        return RiverReading.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(summarise_errors(exc, "reading")) from None


def check_plausible(reading: RiverReading, station: Station) -> None:
    """Refuse a level the station's gauge cannot report (a sensor fault, not a flood)."""
    if not station.gauge_min_m <= reading.level_m <= station.gauge_max_m:
        msg = (
            f"level_m {reading.level_m} is outside the gauge range "
            f"[{station.gauge_min_m}, {station.gauge_max_m}] of station {station.id}"
        )
        raise InvalidInputError(msg)


class RiverIngestor:
    """Handles ``river.raw`` records for one process; safe to run in many (keyed by station)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        hysteresis_m: float,
        window_min: float = 60.0,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._hysteresis_m = hysteresis_m
        self._window_min = window_min

    async def handle(self, record: ConsumerRecord) -> None:
        """Store the reading, advance the station's stage, and publish any hazard events."""
        reading = parse_reading(record.value)
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await self._store_and_evaluate(conn, reading)
            events = await store.hazard_events_at(conn, reading.station_id, reading.observed_at)
        for event in events:
            await self._producer.send_and_wait(
                topics.HAZARD_EVENTS,
                encode_json(event.model_dump(mode="json")),
                key=event.area_name.encode(),
            )

    async def _store_and_evaluate(self, conn: asyncpg.Connection, reading: RiverReading) -> None:
        found = await store.lock_station(conn, reading.station_id)
        if found is None:
            msg = f"unknown station {reading.station_id!r}"
            raise InvalidInputError(msg)
        station, state, last_observed_at = found
        check_plausible(reading, station)
        if not await store.insert_reading(conn, reading):
            return  # a redelivery: the events it produced are published again by the caller
        if last_observed_at is not None and reading.observed_at <= last_observed_at:
            _log.info(
                "late reading for %s at %s kept, not evaluated", station.id, reading.observed_at
            )
            return
        history = await store.recent_levels(conn, station.id, reading.observed_at, self._window_min)
        new_state, change = evaluate_reading(
            state, reading.level_m, history, station.thresholds,
            hysteresis_m=self._hysteresis_m, horizon_min=station.projection_horizon_min,
        )  # fmt: skip
        await store.set_station_state(conn, station.id, new_state, reading.observed_at)
        if change is not None:
            await store.insert_hazard_event(conn, _stage_event(station, reading, change))


def _stage_event(station: Station, reading: RiverReading, change: StageChange) -> RiverStageEvent:
    projected = change.projected_minutes is not None
    return RiverStageEvent(
        id=hazard_event_id(station.id, reading.observed_at, change.stage, projected=projected),
        station_id=station.id,
        station_name=station.name,
        observed_at=reading.observed_at,
        level_m=reading.level_m,
        stage=change.stage,
        previous_stage=change.previous,
        projected_minutes=change.projected_minutes,
        area_name=station.area_name,
        area=station.area,
        location=station.location,
        alert_level=alert_level_for_stage(change.stage),
    )
