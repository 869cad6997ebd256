"""What HQ's dashboard shows, read from Postgres: one entity at a time, or everything at once.

The live stream and the first load use the same readers, so an event's data is exactly the
entity's current state as the snapshot would show it: a client replaces what it had, never
merges. Each reader takes the key a ``dashboard`` notification carries (see migration 0013).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg

from disaster import incident_store, lifecycle, resident_store, shelter_store, store

__all__ = [
    "EVENT_TYPES",
    "alert_view",
    "delivery_progress",
    "event_body",
    "snapshot",
    "station_view",
]

#: How far back the small chart of a gauge reaches, and how many readings it draws at most.
SPARKLINE_SPAN = timedelta(hours=12)
SPARKLINE_POINTS = 72
#: Alerts, incidents and weather older than this and no longer active drop off the picture.
RECENT = timedelta(hours=48)
_SNAPSHOT_LIMIT = 300


async def station_view(conn: asyncpg.Connection, station_id: str) -> dict[str, Any] | None:
    """Return a gauge with its stage, recent readings (oldest first) and trend in m/h."""
    status = await store.station_status(conn, station_id)
    if status is None:
        return None
    rows = await conn.fetch(
        """SELECT observed_at, level_m FROM (
               SELECT observed_at, level_m FROM river_readings
               WHERE station_id = $1 AND observed_at > (
                   SELECT max(observed_at) FROM river_readings WHERE station_id = $1) - $2::interval
               ORDER BY observed_at DESC LIMIT $3) r
           ORDER BY observed_at""",
        station_id, SPARKLINE_SPAN, SPARKLINE_POINTS,
    )  # fmt: skip
    readings = [{"t": r["observed_at"].isoformat(), "level_m": r["level_m"]} for r in rows]
    return {**status, "readings": readings, "trend_m_per_h": _trend(rows)}


def _trend(rows: list[asyncpg.Record]) -> float | None:
    """Rise in metres per hour over the last hour of readings (None with fewer than two)."""
    if len(rows) < 2:
        return None
    last = rows[-1]
    first = next(r for r in rows if last["observed_at"] - r["observed_at"] <= timedelta(hours=1))
    if first is last:
        first = rows[-2]
    hours = (last["observed_at"] - first["observed_at"]).total_seconds() / 3600
    return round((last["level_m"] - first["level_m"]) / hours, 3) if hours > 0 else None


async def sensor_view(conn: asyncpg.Connection, sensor_id: str) -> dict[str, Any] | None:
    """Return a sensor: where, whether silent, and its latest value and severity per kind."""
    row = await conn.fetchrow("SELECT * FROM sensors WHERE id = $1", sensor_id)
    if row is None:
        return None
    latest = await conn.fetch(
        """SELECT DISTINCT ON (r.kind) r.kind, r.value, r.observed_at, s.severity
           FROM sensor_readings r
           LEFT JOIN sensor_states s ON s.sensor_id = r.sensor_id AND s.kind = r.kind
           WHERE r.sensor_id = $1 ORDER BY r.kind, r.observed_at DESC""",
        sensor_id,
    )
    return {
        "id": row["id"], "lat": row["lat"], "lon": row["lon"], "silent": row["silent"],
        "expected_interval_s": row["expected_interval_s"],
        "last_seen_at": row["last_seen_at"].isoformat(),
        "readings": {r["kind"]: {"value": r["value"], "observed_at": r["observed_at"].isoformat(),
                                 "severity": r["severity"] or "none"} for r in latest},
    }  # fmt: skip


async def weather_view(conn: asyncpg.Connection, series: str) -> dict[str, Any] | None:
    """Return the report that currently speaks for a JMA/CAP series (its warnings by area)."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        """SELECT r.body FROM weather_series s JOIN weather_reports r ON r.id = s.latest_id
           WHERE s.series = $1""",
        series,
    )


async def alert_view(conn: asyncpg.Connection, alert_id: uuid.UUID) -> dict[str, Any] | None:
    """Return an alert version with who approved it, how many must, and its delivery."""
    alert = await store.alert_by_id(conn, alert_id)
    if alert is None:
        return None
    approvers = await conn.fetch(
        "SELECT operator FROM alert_approvals WHERE alert_id = $1 ORDER BY approved_at", alert_id
    )
    return {
        **alert.to_json_dict(),
        "approved_by": [r["operator"] for r in approvers],
        "approvals_needed": lifecycle.approvals_needed(int(alert.level)),
        "progress": await delivery_progress(conn, alert_id),
    }


async def delivery_progress(conn: asyncpg.Connection, alert_id: uuid.UUID) -> dict[str, Any]:
    """Return how far an alert's delivery has got, counted in residents: targeted, delivered
    (on at least one channel), failed (on every channel tried), pending, and how they answered.

    Who has not answered is left out: their homes are for operators (``/answers``)."""
    row = await conn.fetchrow(
        """SELECT count(*) AS targeted,
                  count(*) FILTER (WHERE delivered) AS delivered,
                  count(*) FILTER (WHERE NOT delivered AND NOT pending) AS failed,
                  count(*) FILTER (WHERE NOT delivered AND pending) AS pending
           FROM (SELECT subscriber_id, bool_or(status = 'delivered') AS delivered,
                        bool_or(status = 'pending') AS pending
                 FROM deliveries WHERE alert_id = $1 GROUP BY subscriber_id) per_resident""",
        alert_id,
    )
    answers = await resident_store.answers_for_alert(conn, alert_id)
    counts = {k: answers[k] for k in ("safe", "evacuating", "need_help", "unanswered")}
    vulnerable = sum(1 for u in answers["not_answered"] if u["vulnerable"])
    return {"alert_id": str(alert_id), **dict(row), **counts,
            "answered": answers["targeted"] - answers["unanswered"],
            "vulnerable_unanswered": vulnerable}  # fmt: skip


async def _incident(conn: asyncpg.Connection, key: str) -> dict[str, Any] | None:
    return await incident_store.incident_by_id(conn, uuid.UUID(key))


async def _closure(conn: asyncpg.Connection, key: str) -> dict[str, Any] | None:
    closure = await incident_store.road_closure_by_id(conn, key)
    return None if closure is None else closure.model_dump(mode="json")


async def _shelter(conn: asyncpg.Connection, key: str) -> dict[str, Any] | None:
    shelter = await shelter_store.shelter_by_id(conn, key)
    return None if shelter is None else shelter.model_dump(mode="json")


async def _alert(conn: asyncpg.Connection, key: str) -> dict[str, Any] | None:
    return await alert_view(conn, uuid.UUID(key))


async def _delivery(conn: asyncpg.Connection, key: str) -> dict[str, Any] | None:
    return await delivery_progress(conn, uuid.UUID(key))


_Reader = Callable[[asyncpg.Connection, str], Awaitable[dict[str, Any] | None]]
_READERS: dict[str, _Reader] = {
    "alert": _alert,
    "delivery": _delivery,
    "incident": _incident,
    "station": station_view,
    "sensor": sensor_view,
    "weather": weather_view,
    "closure": _closure,
    "shelter": _shelter,
}
#: The event types of ``/api/v1/dashboard/stream``, each the name of a snapshot list's items.
EVENT_TYPES = tuple(_READERS)


async def event_body(conn: asyncpg.Connection, kind: str, key: str) -> dict[str, Any] | None:
    """Return the current state of the entity a notification names (None if it is gone)."""
    reader = _READERS.get(kind)
    return None if reader is None else await reader(conn, key)


async def snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    """Return the whole current picture, as the stream's events would build it up."""
    ids = await conn.fetch(
        """SELECT id FROM alerts
           WHERE status IN ('draft', 'approved')
              OR (status = 'issued' AND issued_at > now() - $1::interval)
           ORDER BY issued_at DESC LIMIT $2""",
        RECENT, _SNAPSHOT_LIMIT,
    )  # fmt: skip
    stations = [r["id"] for r in await conn.fetch("SELECT id FROM stations ORDER BY id")]
    sensors = [r["id"] for r in await conn.fetch("SELECT id FROM sensors ORDER BY id")]
    series = await conn.fetch(
        """SELECT series FROM weather_series WHERE reported_at > now() - $1::interval
           ORDER BY series""",
        RECENT,
    )
    incidents = await conn.fetch(
        """SELECT id FROM incidents WHERE status = 'open' OR resolved_at > now() - $1::interval
           ORDER BY first_reported_at DESC LIMIT $2""",
        RECENT, _SNAPSHOT_LIMIT,
    )  # fmt: skip
    closures = await conn.fetch("SELECT id FROM road_closures WHERE active ORDER BY id")
    areas = await conn.fetch("SELECT code, name, geometry FROM areas ORDER BY code")
    return {
        "alerts": [await alert_view(conn, r["id"]) for r in ids],
        "stations": [await station_view(conn, s) for s in stations],
        "sensors": [await sensor_view(conn, s) for s in sensors],
        "weather": [await weather_view(conn, r["series"]) for r in series],
        "incidents": [await _incident(conn, str(r["id"])) for r in incidents],
        "closures": [await _closure(conn, r["id"]) for r in closures],
        "shelters": [s.model_dump(mode="json") for s in await shelter_store.all_shelters(conn)],
        "areas": [dict(r) for r in areas],
        "has_buildings": await conn.fetchval("SELECT EXISTS (SELECT 1 FROM buildings)"),
    }
