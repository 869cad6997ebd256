"""Event time, not arrival order, decides a gauge's stages: a late reading re-evaluates its
station from the reading before it and announces what it holds, unless residents have been told
as much already (never a lower stage after a higher one); nothing is announced twice."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord

from disaster import store, topics
from disaster._kafka import encode_json
from disaster._pg import available_migrations, create_pool
from disaster.domain import RiverStage, Station
from disaster.domain.river import StationState, evaluate_reading
from ingest.river import RiverIngestor
from tests.support import make_station, square, wait_for_readings

T0 = datetime(2026, 6, 3, 1, 0, tzinfo=UTC)
HYSTERESIS_M = 0.1
WINDOW = timedelta(minutes=60)

#: Thresholds 2.0 / 3.0 / 3.6 / 4.2 m: up through every stage, down by hysteresis, up again.
LEVELS = [2.0, 3.1, 3.7, 4.3, 4.15, 4.0, 4.25]
#: Newest first, then older readings holding the crossings into 避難判断 and 氾濫危険.
OUT_OF_ORDER = [[6], [2, 3], [0, 1, 4, 5]]
#: What in-order feeding announces: 4.15 stays 氾濫危険 (hysteresis), 4.0 falls, 4.25 rises.
ANNOUNCED = [(0, RiverStage.STANDBY), (1, RiverStage.CAUTION), (2, RiverStage.EVACUATION),
             (3, RiverStage.DANGER), (6, RiverStage.DANGER)]  # fmt: skip
#: Newest first: 氾濫危険 is announced at once, and the older crossings, all to stages no higher
#: than it, are not announced after it (a lower level after a higher reads as easing).
ANNOUNCED_NEWEST_FIRST = [(6, RiverStage.DANGER)]


def _at(i: int) -> datetime:
    return T0 + timedelta(minutes=10 * i)


def _index(observed_at: datetime | str) -> int:
    """Return the index of the reading at a time (10 minutes apart from T0)."""
    if isinstance(observed_at, str):
        observed_at = datetime.fromisoformat(observed_at)
    return (observed_at - T0) // timedelta(minutes=10)


def _body(station_id: str, i: int, level_m: float) -> bytes:
    body = {"station_id": station_id, "level_m": level_m, "observed_at": _at(i).isoformat()}
    return encode_json(body)


def _records(station_id: str, readings: list[tuple[int, float]]) -> list[ConsumerRecord]:
    return [_record(station_id, n, _body(station_id, i, level))
            for n, (i, level) in enumerate(readings)]  # fmt: skip


def _record(station_id: str, offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(
        topic=topics.RIVER_RAW, partition=0, offset=offset, timestamp=0, timestamp_type=0,
        key=station_id.encode(), value=value, checksum=None, serialized_key_size=len(station_id),
        serialized_value_size=len(value), headers=(),
    )  # fmt: skip


class _Recording(AIOKafkaProducer):
    """A real producer that also keeps the hazard events it is asked to send."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
        self.events: list[dict[str, Any]] = []

    async def send(self, topic: str, value: Any = None, *args: Any, **kwargs: Any) -> Any:
        if topic == topics.HAZARD_EVENTS:
            self.events.append(json.loads(value))
        return await super().send(topic, value, *args, **kwargs)

    def take(self) -> list[dict[str, Any]]:
        """Return the events sent since the last call."""
        taken, self.events = self.events, []
        return taken

    def take_stages(self) -> list[tuple[int, RiverStage]]:
        """Return the events sent since the last call as (reading index, stage)."""
        return [(_index(e["observed_at"]), RiverStage(e["stage"])) for e in self.take()]


@pytest.fixture
async def recording(bootstrap: str) -> AsyncIterator[_Recording]:
    producer = _Recording(bootstrap)
    await producer.start()
    yield producer
    await producer.stop()


async def _new_station(pool: asyncpg.Pool, *, horizon_min: float = 0.0) -> Station:
    station = make_station(square(141.5, 38.0), horizon_min=horizon_min)
    async with pool.acquire() as conn:
        await store.upsert_station(conn, station)
    return station


async def _feed(ingestor: RiverIngestor, station: Station, indices: list[int]) -> None:
    rejected = await ingestor.handle_batch(_records(station.id, [(i, LEVELS[i]) for i in indices]))
    assert rejected == []


async def _announced(pool: asyncpg.Pool, station_id: str) -> list[tuple[int, RiverStage]]:
    """Return the stored stage events of a station as (reading index, stage), in time order."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT observed_at, body FROM hazard_events WHERE station_id = $1
               ORDER BY observed_at, body->>'stage'""",
            station_id,
        )
    return [(_index(r["observed_at"]), r["body"]["stage"]) for r in rows]


async def _status(pool: asyncpg.Pool, station_id: str) -> tuple[int, int, str]:
    async with pool.acquire() as conn:
        found = await store.station_status(conn, station_id)
    assert found is not None
    return found["stage"], found["projected_stage"], found["last_observed_at"]


async def _reading_states(pool: asyncpg.Pool, station_id: str) -> list[tuple[datetime, int, int]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT observed_at, stage, projected_stage FROM river_readings
               WHERE station_id = $1 ORDER BY observed_at""",
            station_id,
        )
    return [(r["observed_at"], r["stage"], r["projected_stage"]) for r in rows]


def _in_order(
    station: Station, readings: list[tuple[datetime, float]]
) -> list[tuple[datetime, int, int]]:
    """The state after each reading when the readings arrive in time order, one by one."""
    state, states, seen = StationState(), [], []
    for at, level in sorted(readings):
        seen.append((at, level))
        history = (
            [(t, lv) for t, lv in seen if t >= at - WINDOW]
            if station.projection_horizon_min
            else []
        )
        state, _ = evaluate_reading(
            state, level, history, station.thresholds,
            hysteresis_m=HYSTERESIS_M, horizon_min=station.projection_horizon_min,
        )  # fmt: skip
        states.append((at, int(state.stage), int(state.projected)))
    return states


async def test_readings_fed_out_of_order_end_as_in_order_and_announce_nothing_lower_after(
    pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    """Through the broker and the running service: one gauge's readings arrive in order, a
    twin's newest first and then the older ones, which cross into 避難判断 and 氾濫危険: the
    twin ends in the same states, and announced 氾濫危険 once, first."""
    ordered, shuffled = await _new_station(pool), await _new_station(pool)
    for i, level in enumerate(LEVELS):
        await producer.send_and_wait(
            topics.RIVER_RAW, _body(ordered.id, i, level), key=ordered.id.encode()
        )
        await wait_for_readings(pool, ordered.id, i + 1)
    stored = 0
    for batch in OUT_OF_ORDER:
        for i in batch:
            body = _body(shuffled.id, i, LEVELS[i])
            await producer.send(topics.RIVER_RAW, body, key=shuffled.id.encode())
        await producer.flush()
        stored += len(batch)
        await wait_for_readings(pool, shuffled.id, stored)

    assert await _announced(pool, ordered.id) == ANNOUNCED
    assert await _announced(pool, shuffled.id) == ANNOUNCED_NEWEST_FIRST
    assert await _status(pool, shuffled.id) == await _status(pool, ordered.id)
    assert await _status(pool, shuffled.id) == (RiverStage.DANGER, 0, _at(6).isoformat())
    expected = _in_order(shuffled, [(_at(i), level) for i, level in enumerate(LEVELS)])
    assert await _reading_states(pool, shuffled.id) == expected
    assert await _reading_states(pool, ordered.id) == expected


async def test_a_late_batch_announces_only_what_was_not_announced_and_a_redelivery_nothing_new(
    pool: asyncpg.Pool, recording: _Recording
) -> None:
    ingestor = RiverIngestor(pool, recording, hysteresis_m=HYSTERESIS_M)
    station = await _new_station(pool)
    sent: list[tuple[int, RiverStage]] = []
    for batch in OUT_OF_ORDER:
        await _feed(ingestor, station, batch)
        sent += recording.take_stages()
    # 4.25 m at index 6 is announced first; the late batches find it again (the same event
    # id) and do not publish it again, and the crossings before it are no higher than it.
    assert sent == ANNOUNCED_NEWEST_FIRST
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM hazard_events WHERE station_id = $1",
                                     station.id)  # fmt: skip

    await _feed(ingestor, station, OUT_OF_ORDER[1])  # redelivered: stored before, all of it
    again = recording.take_stages()
    async with pool.acquire() as conn:
        after = await conn.fetchval("SELECT count(*) FROM hazard_events WHERE station_id = $1",
                                    station.id)  # fmt: skip
    assert after == before == len(ANNOUNCED_NEWEST_FIRST)
    assert again == []  # those readings caused nothing to republish
    assert await _announced(pool, station.id) == ANNOUNCED_NEWEST_FIRST
    assert await _status(pool, station.id) == (RiverStage.DANGER, 0, _at(6).isoformat())


async def test_a_late_crossing_above_what_was_announced_is_announced_once(
    pool: asyncpg.Pool, recording: _Recording
) -> None:
    """3.1 m then 3.2 m announce 氾濫注意; a late 3.7 m between them crossed into 避難判断,
    higher than anything told: announced, at its own time, and its redelivery after a crash
    publishes the same event again (the alert is keyed by it: stored once)."""
    ingestor = RiverIngestor(pool, recording, hysteresis_m=HYSTERESIS_M)
    station = await _new_station(pool)
    send = ingestor.handle_batch
    assert await send(_records(station.id, [(0, 3.1), (3, 3.2)])) == []
    assert recording.take_stages() == [(0, RiverStage.CAUTION)]
    assert await send(_records(station.id, [(1, 3.7)])) == []
    late = recording.take()
    assert [(_index(e["observed_at"]), e["stage"], e["previous_stage"]) for e in late] == [
        (1, RiverStage.EVACUATION, RiverStage.CAUTION)
    ]
    expected = _in_order(station, [(_at(0), 3.1), (_at(1), 3.7), (_at(3), 3.2)])
    assert await _reading_states(pool, station.id) == expected
    assert await _status(pool, station.id) == (RiverStage.CAUTION, 0, _at(3).isoformat())

    assert await send(_records(station.id, [(1, 3.7)])) == []  # redelivered after a crash
    assert [e["id"] for e in recording.take()] == [e["id"] for e in late]
    assert await _announced(pool, station.id) == [
        (0, RiverStage.CAUTION), (1, RiverStage.EVACUATION),
    ]  # fmt: skip


async def test_a_late_fall_restates_newer_readings_but_tells_no_one_again(
    pool: asyncpg.Pool, recording: _Recording
) -> None:
    """3.7 m, then 3.55 and 3.65 m held at 避難判断 by hysteresis; a late 3.0 m between them
    lowers the stage, so 3.65 m rises into 避難判断 again in the stored states, but residents,
    told 避難判断 at 3.7 m and never told otherwise, are not told it again."""
    ingestor = RiverIngestor(pool, recording, hysteresis_m=HYSTERESIS_M)
    station = await _new_station(pool)
    send = ingestor.handle_batch
    assert await send(_records(station.id, [(0, 3.7), (2, 3.55), (3, 3.65)])) == []
    assert recording.take_stages() == [(0, RiverStage.EVACUATION)]
    assert await send(_records(station.id, [(1, 3.0)])) == []
    assert recording.take() == []
    expected = _in_order(station, [(_at(0), 3.7), (_at(1), 3.0), (_at(2), 3.55), (_at(3), 3.65)])
    assert [stage for _, stage, _ in expected] == [3, 2, 2, 3]
    assert await _reading_states(pool, station.id) == expected
    assert await _announced(pool, station.id) == [(0, RiverStage.EVACUATION)]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_state_stored_with_each_reading_is_the_in_order_one(
    pool: asyncpg.Pool, recording: _Recording, seed: int
) -> None:
    """A projecting gauge rising, falling and rising again, fed in shuffled batches (some
    readings twice): each reading's stored state, projection included, is the in-order one."""
    ingestor = RiverIngestor(pool, recording, hysteresis_m=HYSTERESIS_M)
    station = await _new_station(pool, horizon_min=60.0)
    levels = [1.5 + 0.12 * i for i in range(20)] + [3.9 - 0.1 * i for i in range(12)]
    levels += [2.8 + 0.15 * i for i in range(10)]
    readings = list(enumerate(round(level, 2) for level in levels))
    rng = random.Random(seed)
    arrivals = rng.sample(readings, len(readings)) + rng.sample(readings, 5)
    seen: set[int] = set()
    published: set[str] = set()
    while arrivals:
        size = rng.randint(1, 6)
        batch, arrivals = arrivals[:size], arrivals[size:]
        assert await ingestor.handle_batch(_records(station.id, batch)) == []
        ids = [e["id"] for e in recording.take()]
        if not seen & {i for i, _ in batch}:  # nothing redelivered: nothing published again
            assert not published & set(ids), "an event was published twice"
            assert len(ids) == len(set(ids))
        seen |= {i for i, _ in batch}
        published |= set(ids)

    expected = _in_order(station, [(_at(i), level) for i, level in readings])
    assert {projected for _, _, projected in expected} > {0}, "the series projects nothing"
    assert await _reading_states(pool, station.id) == expected
    _, stage, projected = expected[-1]
    assert await _status(pool, station.id) == (stage, projected, _at(len(readings) - 1).isoformat())
    async with pool.acquire() as conn:
        stored = await conn.fetch("SELECT id FROM hazard_events WHERE station_id = $1", station.id)
    assert published == {str(r["id"]) for r in stored}


async def test_a_late_reading_after_one_without_a_stored_state_is_stored_not_evaluated(
    pool: asyncpg.Pool, recording: _Recording
) -> None:
    """Readings stored before states were kept have none: a late reading after one of them is
    stored as before, not evaluated from a guessed state; a newer one still is evaluated."""
    ingestor = RiverIngestor(pool, recording, hysteresis_m=HYSTERESIS_M)
    station = await _new_station(pool)
    assert await ingestor.handle_batch(_records(station.id, [(0, 4.3), (3, 4.15)])) == []
    async with pool.acquire() as conn:  # as the migration leaves an older reading
        await conn.execute(
            """UPDATE river_readings SET stage = NULL, projected_stage = NULL
               WHERE station_id = $1 AND observed_at = $2""",
            station.id,
            _at(0),
        )
    recording.take()

    assert await ingestor.handle_batch(_records(station.id, [(1, 3.7), (4, 4.3)])) == []
    assert recording.take() == []  # 3.7 m not taken for a rise; 4.3 m continues 氾濫危険
    states = await _reading_states(pool, station.id)
    assert [(at, stage) for at, stage, _ in states] == [
        (_at(0), None), (_at(1), None), (_at(3), RiverStage.DANGER), (_at(4), RiverStage.DANGER),
    ]  # fmt: skip
    assert await _status(pool, station.id) == (RiverStage.DANGER, 0, _at(4).isoformat())


async def test_the_migration_gives_each_stations_newest_reading_the_stations_state(
    fresh_database: object, recording: _Recording
) -> None:
    """Upgraded with readings stored: the newest of each station takes the station's state, so
    a late reading after it is evaluated from there; older ones stay unknown."""
    url: str = await fresh_database()  # type: ignore[operator]
    *before, states = available_migrations()
    assert states.name == "river_reading_states"
    pool = await create_pool(url)
    try:
        async with pool.acquire() as conn:
            for migration in before:
                await conn.execute(migration.sql)
            station = make_station(square(141.5, 38.0))
            await store.upsert_station(conn, station)
            await conn.execute(
                """INSERT INTO river_readings (station_id, observed_at, level_m)
                   SELECT $1, unnest($2::timestamptz[]), unnest($3::float8[])""",
                station.id, [_at(0), _at(2)], [4.3, 4.15],
            )  # fmt: skip
            await conn.execute(
                "UPDATE stations SET stage = 4, last_observed_at = $2 WHERE id = $1",
                station.id,
                _at(2),
            )
            await conn.execute(states.sql)
        assert await _reading_states(pool, station.id) == [
            (_at(0), None, None), (_at(2), RiverStage.DANGER, 0),
        ]  # fmt: skip

        ingestor = RiverIngestor(pool, recording, hysteresis_m=HYSTERESIS_M)
        assert await ingestor.handle_batch(_records(station.id, [(3, 4.0), (4, 4.3)])) == []
        assert recording.take_stages() == [(4, RiverStage.DANGER)]  # 4.0 m fell to 避難判断
        assert await ingestor.handle_batch(_records(station.id, [(1, 3.0)])) == []
        assert recording.take_stages() == []  # after a reading of unknown state: not evaluated
    finally:
        await pool.close()
