"""Queries over the system of record. Each function takes a connection so callers own the
transaction; none of them commits on its own.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from disaster.domain import (
    Alert,
    GeoPoint,
    HazardEvent,
    RiverReading,
    RiverStage,
    RiverStageEvent,
    SensorEvent,
    Station,
    Thresholds,
    WeatherEvent,
    hazard_event_adapter,
)
from disaster.domain.events import FloodExtentEvent
from disaster.domain.river import StationState
from disaster.domain.weather import WeatherReport

__all__ = [
    "advance_weather_series",
    "alert_by_id",
    "hazard_events_by_ids",
    "inbox_of",
    "insert_alert",
    "insert_hazard_event",
    "insert_hazard_events",
    "insert_readings",
    "insert_weather_report",
    "latest_alerts",
    "list_hazard_events",
    "list_weather_reports",
    "lock_stations",
    "readings_from",
    "record_rejected",
    "reset_station",
    "river_events_at",
    "set_reading_states",
    "set_station_states",
    "station_status",
    "station_statuses",
    "upsert_station",
]

_ALERT_COLUMNS = (
    "id, hazard_event_id, level, hazard, status, area_name, area, headline, issued_at, exercise,"
    " circles, incident_id, area_codes, series_id, version, msg_type, created_by, profiles"
)


async def upsert_station(conn: asyncpg.Connection, station: Station) -> bool:
    """Create or update a station; return True if it was created.

    Its stage survives an update unless the thresholds change, which void it.
    """
    t = station.thresholds
    loc = station.location
    return bool(
        await conn.fetchval(
            """INSERT INTO stations (id, name, standby_m, caution_m, evacuation_m, danger_m,
                   gauge_min_m, gauge_max_m, area_name, area, projection_horizon_min, lat, lon)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
               ON CONFLICT (id) DO UPDATE SET
                   name = EXCLUDED.name, gauge_min_m = EXCLUDED.gauge_min_m,
                   gauge_max_m = EXCLUDED.gauge_max_m, area_name = EXCLUDED.area_name,
                   area = EXCLUDED.area, lat = EXCLUDED.lat, lon = EXCLUDED.lon,
                   projection_horizon_min = EXCLUDED.projection_horizon_min,
                   standby_m = EXCLUDED.standby_m, caution_m = EXCLUDED.caution_m,
                   evacuation_m = EXCLUDED.evacuation_m, danger_m = EXCLUDED.danger_m,
                   stage = CASE WHEN (stations.standby_m, stations.caution_m,
                                      stations.evacuation_m, stations.danger_m)
                                   = (EXCLUDED.standby_m, EXCLUDED.caution_m,
                                      EXCLUDED.evacuation_m, EXCLUDED.danger_m)
                                THEN stations.stage ELSE 0 END,
                   projected_stage = 0
               RETURNING xmax = 0""",
            station.id, station.name, t.standby_m, t.caution_m, t.evacuation_m, t.danger_m,
            station.gauge_min_m, station.gauge_max_m, station.area_name,
            station.area.model_dump(mode="json"), station.projection_horizon_min,
            loc.lat if loc else None, loc.lon if loc else None,
        )
    )  # fmt: skip


async def reset_station(conn: asyncpg.Connection, station_id: str) -> None:
    """Forget a station's readings and stage, as before a replayed scenario of a made-up town."""
    await conn.execute("DELETE FROM river_readings WHERE station_id = $1", station_id)
    await conn.execute(
        """UPDATE stations SET stage = 0, projected_stage = 0, last_observed_at = NULL
           WHERE id = $1""",
        station_id,
    )


def _station_from_row(row: asyncpg.Record) -> Station:
    has_location = row["lat"] is not None and row["lon"] is not None
    return Station(
        id=row["id"],
        name=row["name"],
        thresholds=Thresholds(
            standby_m=row["standby_m"],
            caution_m=row["caution_m"],
            evacuation_m=row["evacuation_m"],
            danger_m=row["danger_m"],
        ),
        gauge_min_m=row["gauge_min_m"],
        gauge_max_m=row["gauge_max_m"],
        area_name=row["area_name"],
        area=row["area"],
        location=GeoPoint(lat=row["lat"], lon=row["lon"]) if has_location else None,
        projection_horizon_min=row["projection_horizon_min"],
    )


def _station_json(row: asyncpg.Record) -> dict[str, Any]:
    last = row["last_observed_at"]
    return {
        **_station_from_row(row).model_dump(mode="json"),
        "stage": row["stage"],
        "projected_stage": row["projected_stage"],
        "last_observed_at": last.isoformat() if last else None,
    }


async def station_status(conn: asyncpg.Connection, station_id: str) -> dict[str, Any] | None:
    """Return a station with its current stages, as the API shows it."""
    row = await conn.fetchrow("SELECT * FROM stations WHERE id = $1", station_id)
    return None if row is None else _station_json(row)


async def station_statuses(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Return every station with its current stages, by id."""
    return [_station_json(r) for r in await conn.fetch("SELECT * FROM stations ORDER BY id")]


async def insert_hazard_event(conn: asyncpg.Connection, event: HazardEvent) -> None:
    """Store a hazard event; storing the same event twice is a no-op."""
    station_id = event.station_id if isinstance(event, RiverStageEvent) else None
    await conn.execute(
        """INSERT INTO hazard_events (id, kind, station_id, source_id, observed_at, body)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING""",
        event.id,
        event.kind,
        station_id,
        event_source_id(event),
        event.observed_at,
        event.model_dump(mode="json"),
    )


def event_source_id(event: HazardEvent) -> str:
    """Return the id of what the event is about: a station, report, sensor, incident or the
    source of a flood extent."""
    if isinstance(event, RiverStageEvent):
        return event.station_id
    if isinstance(event, WeatherEvent):
        return event.report_id
    if isinstance(event, SensorEvent):
        return event.sensor_id
    if isinstance(event, FloodExtentEvent):
        return f"flood-extent:{event.source}"
    return str(event.incident_id)


async def hazard_events_of(
    conn: asyncpg.Connection, source_id: str, *, stored_since: datetime | None = None
) -> list[HazardEvent]:
    """Return the events about one source (stored since a time, if given), oldest first."""
    rows = await conn.fetch(
        """SELECT body FROM hazard_events
           WHERE source_id = $1 AND ($2::timestamptz IS NULL OR created_at >= $2)
           ORDER BY observed_at, id""",
        source_id,
        stored_since,
    )
    adapter = hazard_event_adapter()
    return [adapter.validate_python(r["body"]) for r in rows]


async def insert_alert(conn: asyncpg.Connection, alert: Alert) -> bool:
    """Store an alert and announce it to listeners; return False if it existed already."""
    status = await conn.execute(
        f"""INSERT INTO alerts ({_ALERT_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                    $17, $18)
            ON CONFLICT (id) DO NOTHING""",  # noqa: S608 - column list is a constant
        alert.id, alert.hazard_event_id, int(alert.level), alert.hazard, alert.status,
        alert.area_name, alert.area.model_dump(mode="json"), alert.headline, alert.issued_at,
        alert.exercise, [c.model_dump(mode="json") for c in alert.circles], alert.incident_id,
        list(alert.area_codes), alert.series, alert.version, alert.msg_type, alert.created_by,
        list(alert.profiles),
    )  # fmt: skip
    created = status.endswith(" 1")
    if created and alert.status == "issued":
        await conn.execute("SELECT pg_notify('alert_issued', $1)", str(alert.id))
    return created


def _alert_from_row(row: asyncpg.Record) -> Alert:
    return Alert.model_validate({key: row[key] for key in _ALERT_COLUMNS.split(", ")})


async def alert_by_id(conn: asyncpg.Connection, alert_id: uuid.UUID) -> Alert | None:
    """Return one alert, or None."""
    row = await conn.fetchrow(
        f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = $1",  # noqa: S608 - constant columns
        alert_id,
    )
    return None if row is None else _alert_from_row(row)


async def latest_alerts(conn: asyncpg.Connection, *, limit: int) -> list[Alert]:
    """Return the newest issued alert versions first (drafts are HQ's, not the public's)."""
    rows = await conn.fetch(
        f"""SELECT {_ALERT_COLUMNS} FROM alerts WHERE status IN ('issued', 'superseded')
            ORDER BY issued_at DESC, id LIMIT $1""",  # noqa: S608
        limit,
    )
    return [_alert_from_row(r) for r in rows]


async def inbox_of(conn: asyncpg.Connection, sub_id: uuid.UUID) -> list[dict[str, Any]]:
    """Return the alerts delivered to a subscriber, newest issued first, with the delivery time.

    Ordered by when the alert was issued, not delivered: alerts travel on several partitions,
    so a level 4 may be delivered a moment before the level 3 it superseded.
    """
    rows = await conn.fetch(
        f"""SELECT {", ".join("a." + c for c in _ALERT_COLUMNS.split(", "))},
                   d.created_at AS delivered_at
            FROM deliveries d JOIN alerts a ON a.id = d.alert_id
            WHERE d.subscriber_id = $1 AND d.channel = 'inbox'
            ORDER BY a.issued_at DESC, a.id""",  # noqa: S608
        sub_id,
    )
    return [
        {"alert": _alert_from_row(r).to_json_dict(), "delivered_at": r["delivered_at"].isoformat()}
        for r in rows
    ]


async def record_rejected(
    conn: asyncpg.Connection,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
) -> None:
    """Keep a rejected input with its reason, for operators to inspect and replay."""
    await conn.execute(
        """INSERT INTO rejected_inputs
               (topic, kafka_partition, kafka_offset, record_key, record_value, reason)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        topic, partition, offset, key, value, reason,
    )  # fmt: skip


async def insert_weather_report(
    conn: asyncpg.Connection,
    report: WeatherReport,
    original: bytes,
    *,
    area_codes: list[str],
    bbox: list[float] | None,
) -> bool:
    """Store a report with its original document; return False if it was stored before."""
    status = await conn.execute(
        """INSERT INTO weather_reports (id, source, series, title, info_type, mode, reported_at,
               alert_level, headline, area_codes, bbox, body, original)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           ON CONFLICT (id) DO NOTHING""",
        report.id, report.source, report.series, report.title, report.info_type, report.mode,
        report.reported_at, report.alert_level, report.headline, area_codes, bbox,
        report.model_dump(mode="json"), original,
    )  # fmt: skip
    return status.endswith(" 1")


async def advance_weather_series(conn: asyncpg.Connection, report: WeatherReport) -> bool:
    """Make the report its series' newest unless a newer one is known; return True if it is.

    At an equal report time the later arrival wins: that is how JMA issues a 訂正.
    """
    row = await conn.fetchrow(
        """INSERT INTO weather_series (series, latest_id, reported_at) VALUES ($1, $2, $3)
           ON CONFLICT (series) DO UPDATE
               SET latest_id = EXCLUDED.latest_id, reported_at = EXCLUDED.reported_at
               WHERE weather_series.reported_at <= EXCLUDED.reported_at
           RETURNING latest_id""",
        report.series,
        report.id,
        report.reported_at,
    )
    return row is not None


async def hazard_events_by_ids(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> list[HazardEvent]:
    """Return the stored events with these ids (to publish them again after a crash)."""
    rows = await conn.fetch(
        "SELECT body FROM hazard_events WHERE id = ANY($1::uuid[]) ORDER BY observed_at, id", ids
    )
    adapter = hazard_event_adapter()
    return [adapter.validate_python(r["body"]) for r in rows]


async def list_weather_reports(
    conn: asyncpg.Connection,
    *,
    since: datetime | None,
    until: datetime | None,
    area_code: str | None,
    mode: str | None,
    current_only: bool,
    limit: int,
) -> list[dict[str, Any]]:
    """Return normalised reports newest first, by report time, area code and mode.

    ``current_only`` keeps the reports that still speak for their series.
    """
    rows = await conn.fetch(
        """SELECT r.body FROM weather_reports r
           LEFT JOIN weather_series s ON s.latest_id = r.id
           WHERE ($1::timestamptz IS NULL OR r.reported_at >= $1)
             AND ($2::timestamptz IS NULL OR r.reported_at < $2)
             AND ($3::text IS NULL OR r.area_codes @> ARRAY[$3])
             AND ($4::text IS NULL OR r.mode = $4)
             AND (NOT $5 OR s.series IS NOT NULL)
           ORDER BY r.reported_at DESC, r.id LIMIT $6""",
        since, until, area_code, mode, current_only, limit,
    )  # fmt: skip
    return [r["body"] for r in rows]


async def list_hazard_events(
    conn: asyncpg.Connection,
    *,
    kind: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Return hazard events newest first, by kind and observation time."""
    rows = await conn.fetch(
        """SELECT body FROM hazard_events
           WHERE ($1::text IS NULL OR kind = $1)
             AND ($2::timestamptz IS NULL OR observed_at >= $2)
             AND ($3::timestamptz IS NULL OR observed_at < $3)
           ORDER BY observed_at DESC, id LIMIT $4""",
        kind, since, until, limit,
    )  # fmt: skip
    return [r["body"] for r in rows]


async def lock_stations(
    conn: asyncpg.Connection, station_ids: list[str]
) -> dict[str, tuple[Station, StationState, datetime | None]]:
    """Return several stations with state and last observation time, locked in id order."""
    rows = await conn.fetch(
        "SELECT * FROM stations WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", station_ids
    )
    return {
        r["id"]: (
            _station_from_row(r),
            StationState(RiverStage(r["stage"]), RiverStage(r["projected_stage"])),
            r["last_observed_at"],
        )
        for r in rows
    }


async def insert_readings(
    conn: asyncpg.Connection, readings: list[tuple[RiverReading, StationState | None]]
) -> set[tuple[str, datetime]]:
    """Store readings, each with the station's state after it (None: not evaluated), in one
    statement; return the (station, time) pairs that were new."""
    rows = await conn.fetch(
        """INSERT INTO river_readings (station_id, observed_at, level_m, stage, projected_stage)
           SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::int2[],
                                $5::int2[])
           ON CONFLICT (station_id, observed_at) DO NOTHING
           RETURNING station_id, observed_at""",
        [r.station_id for r, _ in readings],
        [r.observed_at for r, _ in readings],
        [r.level_m for r, _ in readings],
        [None if st is None else int(st.stage) for _, st in readings],
        [None if st is None else int(st.projected) for _, st in readings],
    )
    return {(r["station_id"], r["observed_at"]) for r in rows}


async def readings_from(
    conn: asyncpg.Connection, starts: list[tuple[str, datetime, timedelta]]
) -> dict[str, list[tuple[datetime, float, StationState | None]]]:
    """Return stations' stored readings from a time on, oldest first, with the state after each.

    ``starts`` holds ``(station_id, since, lookback)``: a station's readings from ``since``
    on, the ``lookback`` before it (a projection's history) and the reading just before
    ``since`` however old (the state to start from). The state is None for a reading that was
    never evaluated.
    """
    rows = await conn.fetch(
        """SELECT s.id, r.observed_at, r.level_m, r.stage, r.projected_stage
           FROM unnest($1::text[], $2::timestamptz[], $3::interval[]) AS s(id, since, lookback)
           CROSS JOIN LATERAL (
               SELECT LEAST(s.since - s.lookback, max(observed_at)) AS since FROM river_readings
               WHERE station_id = s.id AND observed_at < s.since) AS p
           CROSS JOIN LATERAL (  -- OFFSET 0: an index range per station, not a table scan
               SELECT * FROM river_readings
               WHERE station_id = s.id AND observed_at >= p.since OFFSET 0) AS r
           ORDER BY s.id, r.observed_at""",
        [sid for sid, _, _ in starts],
        [since for _, since, _ in starts],
        [lookback for _, _, lookback in starts],
    )
    found: dict[str, list[tuple[datetime, float, StationState | None]]] = {}
    for r in rows:
        state = None
        if r["stage"] is not None:
            state = StationState(RiverStage(r["stage"]), RiverStage(r["projected_stage"]))
        found.setdefault(r["id"], []).append((r["observed_at"], r["level_m"], state))
    return found


async def set_reading_states(
    conn: asyncpg.Connection, states: list[tuple[str, datetime, StationState]]
) -> None:
    """Record the station's state after each of several readings, in one statement."""
    await conn.execute(
        """UPDATE river_readings AS r SET stage = u.stage, projected_stage = u.projected
           FROM unnest($1::text[], $2::timestamptz[], $3::int2[], $4::int2[])
               AS u(id, observed_at, stage, projected)
           WHERE r.station_id = u.id AND r.observed_at = u.observed_at""",
        [sid for sid, _, _ in states],
        [at for _, at, _ in states],
        [int(st.stage) for _, _, st in states],
        [int(st.projected) for _, _, st in states],
    )


async def set_station_states(
    conn: asyncpg.Connection, states: list[tuple[str, StationState, datetime]]
) -> None:
    """Record several stations' states after their newest readings, in one statement."""
    await conn.execute(
        """UPDATE stations AS s SET stage = u.stage, projected_stage = u.projected,
               last_observed_at = u.observed_at
           FROM unnest($1::text[], $2::int2[], $3::int2[], $4::timestamptz[])
               AS u(id, stage, projected, observed_at)
           WHERE s.id = u.id""",
        [sid for sid, _, _ in states],
        [int(st.stage) for _, st, _ in states],
        [int(st.projected) for _, st, _ in states],
        [at for _, _, at in states],
    )


async def insert_hazard_events(
    conn: asyncpg.Connection, events: list[HazardEvent]
) -> set[uuid.UUID]:
    """Store several hazard events in one statement; known ones are left as they are.

    Returns the ids that were new, so a re-evaluation announces only what it found first.
    """
    rows = await conn.fetch(
        """INSERT INTO hazard_events (id, kind, station_id, source_id, observed_at, body)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],
                                $5::timestamptz[], $6::jsonb[])
           ON CONFLICT (id) DO NOTHING
           RETURNING id""",
        [e.id for e in events],
        [e.kind for e in events],
        [e.station_id if isinstance(e, RiverStageEvent) else None for e in events],
        [event_source_id(e) for e in events],
        [e.observed_at for e in events],
        [e.model_dump(mode="json") for e in events],
    )
    return {r["id"] for r in rows}


async def river_events_at(
    conn: asyncpg.Connection, keys: list[tuple[str, datetime]]
) -> list[HazardEvent]:
    """Return the events the readings with these (station, time) keys produced, in time order.

    Those at them, and every event of the station the transaction that stored them created
    (known by ``now()``, which stamps both): a late reading re-evaluates its station, and may
    so cause an event at a newer reading.
    """
    rows = await conn.fetch(
        """WITH k AS (SELECT * FROM unnest($1::text[], $2::timestamptz[]) AS k(id, at))
           SELECT body FROM hazard_events WHERE id IN (
               SELECT e.id FROM k
               JOIN hazard_events e ON (e.station_id, e.observed_at) = (k.id, k.at)
               UNION
               SELECT e.id FROM k
               JOIN river_readings r ON (r.station_id, r.observed_at) = (k.id, k.at)
               JOIN hazard_events e
                 ON e.station_id = r.station_id AND e.created_at = r.received_at)
           ORDER BY observed_at, id""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    adapter = hazard_event_adapter()
    return [adapter.validate_python(r["body"]) for r in rows]
