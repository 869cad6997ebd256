"""The river-gauge ingestor: ``river.raw`` readings in, hazard events out.

Parsing is pure; :class:`RiverIngestor` does the I/O. A batch of readings is stored and the
stations' stages advanced in one transaction, and the hazard events are written to Postgres
before they are produced to Kafka, so a crash between the two is healed by the redelivered batch.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord
from pydantic import ValidationError

from disaster import store, topics
from disaster._kafka import Rejection, encode_json, summarise_errors
from disaster.domain import HazardEvent, InvalidInputError, RiverReading, RiverStageEvent, Station
from disaster.domain.levels import alert_level_for_stage
from disaster.domain.river import StageChange, StationState, evaluate_reading, hazard_event_id
from disaster.exercise import exercise_run_of

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
        return RiverReading.model_validate_json(raw)  # the hot path: no json module round trip
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            msg = f"not JSON: {exc.errors()[0]['msg']}"
            raise InvalidInputError(msg) from None
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
    """Handles ``river.raw`` batches for one process; safe to run in many (keyed by station).

    A fetched batch is stored in one transaction with bulk statements: the readings, the
    stations' new stages and the events. Stages are evaluated reading by reading, in order.
    """

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
        self._window = timedelta(minutes=window_min)

    async def handle_batch(self, records: list[ConsumerRecord]) -> list[Rejection]:
        """Store a batch of readings, then publish the events they caused; return rejects."""
        rejected: list[Rejection] = []
        parsed: list[tuple[ConsumerRecord, RiverReading]] = []
        for record in records:
            try:
                parsed.append((record, parse_reading(record.value)))
            except InvalidInputError as exc:
                rejected.append((record, exc.reason))
        if parsed:
            async with self._pool.acquire() as conn:
                async with conn.transaction():
                    refused, events, redelivered = await self._store(conn, parsed)
                if redelivered:  # publish again what they caused before a crash
                    events += await store.river_events_at(conn, redelivered)
            rejected += refused
            for event in sorted(events, key=lambda e: e.observed_at):
                body = encode_json(event.model_dump(mode="json"))
                await self._producer.send(topics.HAZARD_EVENTS, body, key=event.area_name.encode())
            await self._producer.flush()
        return rejected

    async def _store(
        self, conn: asyncpg.Connection, parsed: list[tuple[ConsumerRecord, RiverReading]]
    ) -> tuple[list[Rejection], list[HazardEvent], list[tuple[str, datetime]]]:
        """Store and evaluate; return the rejects, the new events, and the keys of readings
        stored before (redeliveries)."""
        stations = await store.lock_stations(conn, sorted({r.station_id for _, r in parsed}))
        drills = {
            (r.station_id, r.observed_at): run
            for rec, r in parsed
            if (run := exercise_run_of(rec)) is not None
        }
        rejected, valid = _check(parsed, stations)
        new = await store.insert_readings(conn, valid)
        fresh, redelivered = [], []
        for reading in valid:
            key = (reading.station_id, reading.observed_at)
            (fresh if key in new else redelivered).append(reading)
        histories = await self._histories(conn, fresh, stations)
        times = {sid: [at for at, _ in history] for sid, history in histories.items()}
        events: list[HazardEvent] = []
        changed = {}
        for reading in fresh:
            station, state, last = stations[reading.station_id]
            if last is not None and reading.observed_at <= last:
                continue  # a late reading: stored, not evaluated
            history = _window(
                histories.get(station.id, []), times.get(station.id, []),
                reading.observed_at, self._window,
            )  # fmt: skip
            state, change = evaluate_reading(
                state, reading.level_m, history, station.thresholds,
                hysteresis_m=self._hysteresis_m, horizon_min=station.projection_horizon_min,
            )  # fmt: skip
            stations[station.id] = (station, state, reading.observed_at)
            changed[station.id] = (station.id, state, reading.observed_at)
            if change is not None:
                drill = drills.get((reading.station_id, reading.observed_at))
                events.append(_stage_event(station, reading, change, drill))
        if changed:
            await store.set_station_states(conn, list(changed.values()))
        if events:
            await store.insert_hazard_events(conn, events)
        return rejected, events, [(r.station_id, r.observed_at) for r in redelivered]

    async def _histories(
        self,
        conn: asyncpg.Connection,
        readings: list[RiverReading],
        stations: dict[str, tuple[Station, StationState, datetime | None]],
    ) -> dict[str, list[tuple[datetime, float]]]:
        projecting = sorted(
            {r.station_id for r in readings if stations[r.station_id][0].projection_horizon_min}
        )
        if not projecting:
            return {}
        times = [r.observed_at for r in readings]
        return await store.levels_between(conn, projecting, min(times) - self._window, max(times))


def _check(
    parsed: list[tuple[ConsumerRecord, RiverReading]],
    stations: dict[str, tuple[Station, StationState, datetime | None]],
) -> tuple[list[Rejection], list[RiverReading]]:
    """Split readings into rejects (unknown station, implausible level) and valid ones."""
    rejected, valid = [], []
    for record, reading in parsed:
        found = stations.get(reading.station_id)
        try:
            if found is None:
                msg = f"unknown station {reading.station_id!r}"
                raise InvalidInputError(msg)
            check_plausible(reading, found[0])
        except InvalidInputError as exc:
            rejected.append((record, exc.reason))
        else:
            valid.append(reading)
    return rejected, valid


def _window(
    history: list[tuple[datetime, float]], times: list[datetime], until: datetime, span: timedelta
) -> list[tuple[datetime, float]]:
    """Return the readings in ``[until - span, until]`` from a station's sorted history."""
    return history[bisect_left(times, until - span) : bisect_right(times, until)]


def _stage_event(
    station: Station, reading: RiverReading, change: StageChange, exercise_run: str | None
) -> RiverStageEvent:
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
        exercise_run=exercise_run,
    )
