"""Queries over sensors, their readings and threshold states. Callers own the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from disaster.domain.models import GeoPoint
from disaster.domain.sensor import SensorReading

__all__ = [
    "SensorKey",
    "insert_sensor_readings",
    "last_reading_out_of_band",
    "list_readings",
    "lock_sensor_states",
    "mark_silent_sensors",
    "readings_from",
    "set_sensor_states",
    "touch_sensors",
    "upsert_sensor",
]


async def upsert_sensor(
    conn: asyncpg.Connection,
    sensor_id: str,
    *,
    expected_interval_s: float,
    lat: float | None,
    lon: float | None,
) -> bool:
    """Register a sensor or change its expected interval and place; return True if created."""
    return bool(
        await conn.fetchval(
            """INSERT INTO sensors (id, expected_interval_s, lat, lon) VALUES ($1, $2, $3, $4)
               ON CONFLICT (id) DO UPDATE SET expected_interval_s = EXCLUDED.expected_interval_s,
                   lat = coalesce(EXCLUDED.lat, sensors.lat),
                   lon = coalesce(EXCLUDED.lon, sensors.lon)
               RETURNING xmax = 0""",
            sensor_id, expected_interval_s, lat, lon,
        )
    )  # fmt: skip


async def mark_silent_sensors(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Flag the sensors not heard from within their interval; return each one newly silent.

    One UPDATE does both, so several watchers (one per ingest process) report each silence once.
    """
    rows = await conn.fetch(
        """UPDATE sensors SET silent = true
           WHERE NOT silent AND last_seen_at < now() - make_interval(secs => expected_interval_s)
           RETURNING id, lat, lon, last_seen_at, expected_interval_s"""
    )
    return [dict(r) for r in rows]


async def list_readings(
    conn: asyncpg.Connection,
    *,
    kind: str | None,
    since: datetime | None,
    until: datetime | None,
    bbox: tuple[float, float, float, float] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Return readings newest first, by kind, time window and lon/lat box."""
    box = bbox or (None, None, None, None)
    rows = await conn.fetch(
        """SELECT sensor_id, kind, observed_at, value, lat, lon, source FROM sensor_readings
           WHERE ($1::text IS NULL OR kind = $1)
             AND ($2::timestamptz IS NULL OR observed_at >= $2)
             AND ($3::timestamptz IS NULL OR observed_at < $3)
             AND ($4::float8 IS NULL OR lon BETWEEN $4 AND $6)
             AND ($5::float8 IS NULL OR lat BETWEEN $5 AND $7)
           ORDER BY observed_at DESC, sensor_id LIMIT $8""",
        kind, since, until, *box, limit,
    )  # fmt: skip
    return [{**dict(r), "observed_at": r["observed_at"].isoformat()} for r in rows]


SensorKey = tuple[str, str, datetime]  # sensor id, kind, observed_at


async def touch_sensors(conn: asyncpg.Connection, readings: list[SensorReading]) -> None:
    """Note that these sensors spoke now (silent ones are silent no longer), creating new ones."""
    latest = {r.sensor_id: r.location for r in readings}  # one row per sensor per statement
    ids = sorted(latest)
    await conn.execute(
        """INSERT INTO sensors (id, lat, lon)
           SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[])
           ON CONFLICT (id) DO UPDATE SET last_seen_at = now(), silent = false,
               lat = coalesce(EXCLUDED.lat, sensors.lat),
               lon = coalesce(EXCLUDED.lon, sensors.lon)""",
        ids,
        [latest[i].lat if latest[i] else None for i in ids],
        [latest[i].lon if latest[i] else None for i in ids],
    )


async def insert_sensor_readings(
    conn: asyncpg.Connection, readings: list[SensorReading]
) -> set[SensorKey]:
    """Store readings in one statement; return the keys of those not stored before."""
    rows = await conn.fetch(
        """INSERT INTO sensor_readings (sensor_id, kind, observed_at, value, lat, lon, source)
           SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[],
                                $5::float8[], $6::float8[], $7::text[])
           ON CONFLICT (sensor_id, kind, observed_at) DO NOTHING
           RETURNING sensor_id, kind, observed_at""",
        [r.sensor_id for r in readings], [r.kind for r in readings],
        [r.observed_at for r in readings], [r.value for r in readings],
        [r.location.lat if r.location else None for r in readings],
        [r.location.lon if r.location else None for r in readings],
        [r.source for r in readings],
    )  # fmt: skip
    return {(r["sensor_id"], r["kind"], r["observed_at"]) for r in rows}


async def lock_sensor_states(
    conn: asyncpg.Connection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, datetime | None]]:
    """Return the severity and time of each (sensor, kind), locked; unknown ones are 'none'."""
    rows = await conn.fetch(
        """SELECT sensor_id, kind, severity, observed_at FROM sensor_states
           WHERE (sensor_id, kind) IN (SELECT * FROM unnest($1::text[], $2::text[]))
           ORDER BY sensor_id, kind FOR UPDATE""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    found = {(r["sensor_id"], r["kind"]): (r["severity"], r["observed_at"]) for r in rows}
    return {key: found.get(key, ("none", None)) for key in keys}


async def set_sensor_states(
    conn: asyncpg.Connection, states: dict[tuple[str, str], tuple[str, datetime]]
) -> None:
    """Record the severity each (sensor, kind) is at after its newest reading."""
    keys = sorted(states)
    await conn.execute(
        """INSERT INTO sensor_states (sensor_id, kind, severity, observed_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
           ON CONFLICT (sensor_id, kind) DO UPDATE
               SET severity = EXCLUDED.severity, observed_at = EXCLUDED.observed_at""",
        [k[0] for k in keys], [k[1] for k in keys],
        [states[k][0] for k in keys], [states[k][1] for k in keys],
    )  # fmt: skip


def _reading(row: asyncpg.Record) -> SensorReading:
    located = row["lat"] is not None and row["lon"] is not None
    return SensorReading(
        sensor_id=row["sensor_id"], kind=row["kind"], value=row["value"],
        observed_at=row["observed_at"], source=row["source"],
        location=GeoPoint(lat=row["lat"], lon=row["lon"]) if located else None,
    )  # fmt: skip


async def readings_from(
    conn: asyncpg.Connection, sensor_id: str, kind: str, start: datetime
) -> tuple[SensorReading | None, list[SensorReading]]:
    """Return a sensor kind's reading just before ``start`` (None when there is none) and its
    readings from ``start`` on, oldest first: what re-evaluating from ``start`` walks over.

    One statement, both parts ranges of the primary key's index (sensor, kind, time).
    """
    rows = await conn.fetch(
        """SELECT sensor_id, kind, observed_at, value, lat, lon, source FROM sensor_readings
           WHERE sensor_id = $1 AND kind = $2 AND observed_at >= coalesce(
               (SELECT max(observed_at) FROM sensor_readings
                WHERE sensor_id = $1 AND kind = $2 AND observed_at < $3), $3)
           ORDER BY observed_at""",
        sensor_id, kind, start,
    )  # fmt: skip
    readings = [_reading(r) for r in rows]
    if readings and readings[0].observed_at < start:
        return readings[0], readings[1:]
    return None, readings


async def last_reading_out_of_band(
    conn: asyncpg.Connection,
    sensor_id: str,
    kind: str,
    before: datetime,
    *,
    low: float,
    high: float,
) -> SensorReading | None:
    """Return a sensor kind's newest reading before ``before`` whose value is below ``low``,
    or at least ``high`` with a location; None when there is none.

    The readings after it (between the two values, or at ``high`` but located nowhere) leave a
    hysteresis state such as a road closure as it was, so this one decides that state just
    before ``before``. Read backwards along the primary key's index from ``before``.
    """
    row = await conn.fetchrow(
        """SELECT sensor_id, kind, observed_at, value, lat, lon, source FROM sensor_readings
           WHERE sensor_id = $1 AND kind = $2 AND observed_at < $3
             AND (value < $4 OR (value >= $5 AND lat IS NOT NULL AND lon IS NOT NULL))
           ORDER BY observed_at DESC LIMIT 1""",
        sensor_id, kind, before, low, high,
    )  # fmt: skip
    return None if row is None else _reading(row)
