"""The river-gauge ingestor: ``river.raw`` readings in, hazard events out.

Parsing is pure; :class:`RiverIngestor` does the I/O. A batch of readings is stored and the
stations' stages advanced in one transaction, in event time (a late reading re-evaluates the
readings after it), and the hazard events are written to Postgres before they are produced to
Kafka, so a crash between the two is healed by the redelivered batch.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from dataclasses import dataclass, field
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


_Stored = tuple[datetime, float, StationState | None]


def _time(row: _Stored) -> datetime:
    return row[0]


@dataclass(slots=True)
class _Writes:
    """What a batch writes: its new readings with the state after each (None: not evaluated),
    stored readings' new states, stations' states, stage events, and the keys of readings
    stored before."""

    readings: list[tuple[RiverReading, StationState | None]] = field(default_factory=list)
    restated: list[tuple[str, datetime, StationState]] = field(default_factory=list)
    stations: list[tuple[str, StationState, datetime]] = field(default_factory=list)
    events: list[HazardEvent] = field(default_factory=list)
    redelivered: list[tuple[str, datetime]] = field(default_factory=list)


class RiverIngestor:
    """Handles ``river.raw`` batches for one process; safe to run in many (keyed by station).

    A fetched batch is stored in one transaction with bulk statements: the readings, the
    stations' new states and the events. Event time, not arrival, decides: a station is
    evaluated reading by reading in time order, from its earliest new reading on, and a late
    reading (observed before the station's newest) re-evaluates the readings after it.
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
            unique = {event.id: event for event in events}.values()
            for event in sorted(unique, key=lambda e: e.observed_at):
                body = encode_json(event.model_dump(mode="json"))
                await self._producer.send(topics.HAZARD_EVENTS, body, key=event.area_name.encode())
            await self._producer.flush()
        return rejected

    async def _store(
        self, conn: asyncpg.Connection, parsed: list[tuple[ConsumerRecord, RiverReading]]
    ) -> tuple[list[Rejection], list[HazardEvent], list[tuple[str, datetime]]]:
        """Evaluate and store; return the rejects, the events not known before (a
        re-evaluation finds again what was announced), and the keys of readings stored before
        (redeliveries)."""
        stations = await store.lock_stations(conn, sorted({r.station_id for _, r in parsed}))
        drills = {  # a drill's readings: its gauges are its own, so one run per station
            r.station_id: run for rec, r in parsed if (run := exercise_run_of(rec)) is not None
        }
        rejected, valid = _check(parsed, stations)
        batch: dict[str, dict[datetime, RiverReading]] = {}
        for reading in valid:  # one sent twice in a batch: the first counts, as when stored
            batch.setdefault(reading.station_id, {}).setdefault(reading.observed_at, reading)
        starts = [(sid, min(got), self._lookback(stations[sid][0])) for sid, got in batch.items()]
        stored = await store.readings_from(conn, starts) if starts else {}
        writes = _Writes()
        for sid, got in batch.items():
            self._evaluate(stations[sid], stored.get(sid, []), got, writes, drills.get(sid))
        if writes.readings:
            await store.insert_readings(conn, writes.readings)
        if writes.restated:
            await store.set_reading_states(conn, writes.restated)
        if writes.stations:
            await store.set_station_states(conn, writes.stations)
        if not writes.events:
            return rejected, [], writes.redelivered
        new = await store.insert_hazard_events(conn, writes.events)
        return rejected, [e for e in writes.events if e.id in new], writes.redelivered

    def _evaluate(
        self,
        current: tuple[Station, StationState, datetime | None],
        stored: list[_Stored],
        got: dict[datetime, RiverReading],
        writes: _Writes,
        run: str | None,
    ) -> None:
        """Evaluate a station from its earliest new reading to its newest, in time order, and
        add what to write: the new readings and the states after them, the stored readings
        whose state this changes, the station's state and the stage events."""
        station = current[0]
        known = {at for at, _, _ in stored}
        new = [r for at, r in sorted(got.items()) if at not in known]
        writes.redelivered += [(station.id, at) for at in got if at in known]
        if not new:
            return
        rows = sorted([*stored, *((r.observed_at, r.level_m, None) for r in new)], key=_time)
        start = _starting_point(current, rows, [r.observed_at for r in new])
        walked, changes = ([], []) if start is None else _walk(
            station, rows, *start, hysteresis_m=self._hysteresis_m,
            window=self._window if station.projection_horizon_min else None,
        )  # fmt: skip
        after = dict(walked)
        writes.readings += [(r, after.get(r.observed_at)) for r in new]
        writes.restated += [
            (station.id, at, after[at]) for at, _, was in stored if after.get(at, was) != was
        ]
        if walked:
            writes.stations.append((station.id, walked[-1][1], walked[-1][0]))
        writes.events += [
            _stage_event(station, at, level, change, run)
            for at, level, change in changes
            if not _covered(current, at, change)
        ]

    def _lookback(self, station: Station) -> timedelta:
        """Return how far before a reading the projection's history reaches (none: no trend)."""
        return self._window if station.projection_horizon_min else timedelta(0)


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


def _starting_point(
    current: tuple[Station, StationState, datetime | None],
    rows: list[_Stored],
    fresh: list[datetime],
) -> tuple[StationState, datetime] | None:
    """Return the state a station is evaluated from and the time of the reading to start at.

    ``rows`` are the station's readings, stored and new, from the one before the new ones (at
    ``fresh``, sorted) on. New readings after the station's newest continue from its state; a
    late one (observed at or before it) from the state stored with the reading just before it,
    or the initial state if none is older. A reading before it with no state (stored late
    before states were kept) gives nothing to continue from: guessing the stage could announce
    a fall as a rise, so the late readings stay unevaluated, as they were then, and any newer
    ones continue from the station's state. None: nothing to evaluate.
    """
    _, state, last = current
    if last is None or fresh[0] > last:
        return state, fresh[0]
    before = bisect_left([at for at, _, _ in rows], fresh[0])
    if before == 0:
        return StationState(), fresh[0]
    if (stored := rows[before - 1][2]) is not None:
        return stored, fresh[0]
    newer = [at for at in fresh if at > last]
    _log.warning(
        "%d late reading(s) of station %s stored, not evaluated: the reading before them "
        "has no stored state",
        len(fresh) - len(newer), current[0].id,
    )  # fmt: skip
    return (state, newer[0]) if newer else None


def _covered(
    current: tuple[Station, StationState, datetime | None], at: datetime, change: StageChange
) -> bool:
    """True for a rise a late reading finds that residents have been told already: one at or
    before the station's newest reading to a stage no higher than the one announced now.

    Announcing it would follow a higher level with a lower one (a late 避難判断 after the
    氾濫危険 in force), which reads as the danger easing when nothing has eased.
    """
    _, state, last = current
    return last is not None and at <= last and change.stage <= state.announced


def _walk(
    station: Station,
    rows: list[_Stored],
    state: StationState,
    since: datetime,
    *,
    hysteresis_m: float,
    window: timedelta | None,
) -> tuple[list[tuple[datetime, StationState]], list[tuple[datetime, float, StageChange]]]:
    """Evaluate a station's readings (``rows``, sorted) from ``since`` on, from ``state``.

    Returns the state after each reading and the announced-stage rises, each with its
    reading's time (and level). A projection sees the readings in ``window`` up to each one.
    """
    times = [at for at, _, _ in rows]
    levels = [(at, level) for at, level, _ in rows]
    walked, changes = [], []
    for i in range(bisect_left(times, since), len(rows)):
        at, level, _ = rows[i]
        history = levels[bisect_left(times, at - window) : i + 1] if window else []
        state, change = evaluate_reading(
            state, level, history, station.thresholds,
            hysteresis_m=hysteresis_m, horizon_min=station.projection_horizon_min,
        )  # fmt: skip
        walked.append((at, state))
        if change is not None:
            changes.append((at, level, change))
    return walked, changes


def _stage_event(
    station: Station,
    observed_at: datetime,
    level_m: float,
    change: StageChange,
    exercise_run: str | None,
) -> RiverStageEvent:
    projected = change.projected_minutes is not None
    return RiverStageEvent(
        id=hazard_event_id(station.id, observed_at, change.stage, projected=projected),
        station_id=station.id,
        station_name=station.name,
        observed_at=observed_at,
        level_m=level_m,
        stage=change.stage,
        previous_stage=change.previous,
        projected_minutes=change.projected_minutes,
        area_name=station.area_name,
        area=station.area,
        location=station.location,
        alert_level=alert_level_for_stage(change.stage),
        exercise_run=exercise_run,
    )
