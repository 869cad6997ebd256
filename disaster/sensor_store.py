"""Queries over sensors, their readings and threshold states. Callers own the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from disaster.domain.sensor import SensorReading

__all__ = [
    "insert_sensor_reading",
    "list_readings",
    "lock_sensor_state",
    "mark_silent_sensors",
    "set_sensor_state",
    "touch_sensor",
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


async def touch_sensor(conn: asyncpg.Connection, reading: SensorReading) -> None:
    """Note that a sensor spoke now (a silent one is silent no longer), creating it if new."""
    loc = reading.location
    await conn.execute(
        """INSERT INTO sensors (id, lat, lon) VALUES ($1, $2, $3)
           ON CONFLICT (id) DO UPDATE SET last_seen_at = now(), silent = false,
               lat = coalesce(EXCLUDED.lat, sensors.lat),
               lon = coalesce(EXCLUDED.lon, sensors.lon)""",
        reading.sensor_id, loc.lat if loc else None, loc.lon if loc else None,
    )  # fmt: skip


async def insert_sensor_reading(conn: asyncpg.Connection, reading: SensorReading) -> bool:
    """Store a reading; return False if this exact observation was stored before."""
    loc = reading.location
    status = await conn.execute(
        """INSERT INTO sensor_readings (sensor_id, kind, observed_at, value, lat, lon, source)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (sensor_id, kind, observed_at) DO NOTHING""",
        reading.sensor_id, reading.kind, reading.observed_at, reading.value,
        loc.lat if loc else None, loc.lon if loc else None, reading.source,
    )  # fmt: skip
    return status.endswith(" 1")


async def lock_sensor_state(
    conn: asyncpg.Connection, sensor_id: str, kind: str
) -> tuple[str, datetime | None]:
    """Return the severity a sensor quantity is at and when it was set, locked."""
    row = await conn.fetchrow(
        """SELECT severity, observed_at FROM sensor_states
           WHERE sensor_id = $1 AND kind = $2 FOR UPDATE""",
        sensor_id,
        kind,
    )
    return ("none", None) if row is None else (row["severity"], row["observed_at"])


async def set_sensor_state(
    conn: asyncpg.Connection, sensor_id: str, kind: str, severity: str, observed_at: datetime
) -> None:
    """Record the severity a sensor quantity is at after a reading."""
    await conn.execute(
        """INSERT INTO sensor_states (sensor_id, kind, severity, observed_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (sensor_id, kind) DO UPDATE
               SET severity = EXCLUDED.severity, observed_at = EXCLUDED.observed_at""",
        sensor_id, kind, severity, observed_at,
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
