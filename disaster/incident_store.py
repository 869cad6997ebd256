"""Queries over incidents, their reports, and road closures. Callers own the transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from disaster.domain import GeoPoint
from disaster.domain.incident import SEVERITY_ORDER, IncidentReport, OpenIncident
from disaster.domain.roads import RoadClosure, closure_geometry

__all__ = [
    "closures_written_since",
    "create_incident",
    "incident_by_id",
    "incident_of_report",
    "insert_incident_report",
    "list_incidents",
    "merge_into_incident",
    "open_incidents_near",
    "resolve_incident",
    "road_closure_by_id",
    "upsert_road_closure",
]


async def incident_of_report(conn: asyncpg.Connection, report_id: uuid.UUID) -> uuid.UUID | None:
    """Return the incident a report was filed under, or None if it is new."""
    return await conn.fetchval("SELECT incident_id FROM incident_reports WHERE id = $1", report_id)


async def open_incidents_near(
    conn: asyncpg.Connection,
    kind: str,
    box: tuple[float, float, float, float],
    exercise_run: str | None = None,
) -> list[OpenIncident]:
    """Return the open incidents of a kind inside a lon/lat box, locked for this transaction:
    real ones, or those of drill run ``exercise_run``."""
    rows = await conn.fetch(
        """SELECT id, kind, lat, lon, last_reported_at FROM incidents
           WHERE status = 'open' AND kind = $1
             AND lon BETWEEN $2 AND $4 AND lat BETWEEN $3 AND $5
             AND exercise_run IS NOT DISTINCT FROM $6
           ORDER BY id FOR UPDATE""",
        kind, *box, exercise_run,
    )  # fmt: skip
    return [
        OpenIncident(
            id=r["id"],
            kind=r["kind"],
            position=GeoPoint(lat=r["lat"], lon=r["lon"]),
            last_reported_at=r["last_reported_at"],
        )
        for r in rows
    ]


async def create_incident(
    conn: asyncpg.Connection, report: IncidentReport, exercise_run: str | None = None
) -> uuid.UUID:
    """Open a new incident from its first report (of drill run ``exercise_run``, if given);
    its id is derived from that report."""
    incident_id = uuid.uuid5(report.report_id, "incident")
    line = closure_geometry(None, report.line) if report.line else None
    area = report.area.model_dump(mode="json") if report.area else None
    await conn.execute(
        """INSERT INTO incidents (id, kind, severity, lat, lon, line, area, description,
               first_reported_at, last_reported_at, exercise_run)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)""",
        incident_id, report.kind, report.severity, report.position.lat, report.position.lon,
        line, area, report.description, report.reported_at, exercise_run,
    )  # fmt: skip
    return incident_id


async def set_incident_area(
    conn: asyncpg.Connection, incident_id: uuid.UUID, area: dict[str, Any]
) -> None:
    """Record the area an incident now covers (GeoJSON), as a later report widened it."""
    await conn.execute("UPDATE incidents SET area = $2 WHERE id = $1", incident_id, area)


async def merge_into_incident(
    conn: asyncpg.Connection, incident_id: uuid.UUID, report: IncidentReport
) -> None:
    """Count another report of an open incident; its severity only ever rises."""
    await conn.execute(
        """UPDATE incidents SET report_count = report_count + 1,
               last_reported_at = greatest(last_reported_at, $2),
               severity = CASE WHEN array_position($4::text[], $3) >
                                    array_position($4::text[], severity)
                               THEN $3 ELSE severity END
           WHERE id = $1""",
        incident_id, report.reported_at, report.severity, list(SEVERITY_ORDER),
    )  # fmt: skip


async def insert_incident_report(
    conn: asyncpg.Connection, report: IncidentReport, incident_id: uuid.UUID
) -> None:
    """Keep the report itself, filed under its incident."""
    await conn.execute(
        "INSERT INTO incident_reports (id, incident_id, body) VALUES ($1, $2, $3)",
        report.report_id, incident_id, report.model_dump(mode="json"),
    )  # fmt: skip


async def resolve_incident(conn: asyncpg.Connection, incident_id: uuid.UUID, at: datetime) -> bool:
    """Mark an open incident resolved; return False if it was not open."""
    status = await conn.execute(
        """UPDATE incidents SET status = 'resolved', resolved_at = $2
           WHERE id = $1 AND status = 'open'""",
        incident_id,
        at,
    )
    return status.endswith(" 1")


def _incident_json(row: asyncpg.Record) -> dict[str, Any]:
    times = ("first_reported_at", "last_reported_at", "resolved_at")
    return {
        **{k: row[k] for k in ("kind", "severity", "description", "status", "report_count")},
        "id": str(row["id"]),
        "location": {"lat": row["lat"], "lon": row["lon"]},
        "line": row["line"],
        "area": row["area"],
        **{k: row[k].isoformat() if row[k] else None for k in times},
    }


async def incident_by_id(conn: asyncpg.Connection, incident_id: uuid.UUID) -> dict[str, Any] | None:
    """Return one incident as the API shows it, or None."""
    row = await conn.fetchrow("SELECT * FROM incidents WHERE id = $1", incident_id)
    return None if row is None else _incident_json(row)


async def list_incidents(
    conn: asyncpg.Connection, *, status: str | None, kind: str | None, limit: int
) -> list[dict[str, Any]]:
    """Return incidents, newest first, optionally of one status and kind."""
    rows = await conn.fetch(
        """SELECT * FROM incidents
           WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR kind = $2)
           ORDER BY first_reported_at DESC, id LIMIT $3""",
        status,
        kind,
        limit,
    )
    return [_incident_json(r) for r in rows]


async def upsert_road_closure(conn: asyncpg.Connection, closure: RoadClosure) -> None:
    """Record a closure's current state (closed or reopened)."""
    await conn.execute(
        """INSERT INTO road_closures (id, source, source_id, geometry, reason, active, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (id) DO UPDATE SET active = EXCLUDED.active, reason = EXCLUDED.reason,
               geometry = EXCLUDED.geometry, changed_at = EXCLUDED.changed_at,
               written_at = now()""",
        closure.id, closure.source, closure.source_id, closure.geometry, closure.reason,
        closure.active, closure.changed_at,
    )  # fmt: skip


async def road_closure_by_id(conn: asyncpg.Connection, closure_id: str) -> RoadClosure | None:
    """Return a closure's current state, or None."""
    row = await conn.fetchrow("SELECT * FROM road_closures WHERE id = $1", closure_id)
    if row is None:
        return None
    fields = ("id", "source", "source_id", "geometry", "reason", "active", "changed_at")
    return RoadClosure.model_validate({k: row[k] for k in fields})


async def closures_written_since(
    conn: asyncpg.Connection, since: datetime | None
) -> tuple[list[RoadClosure], datetime | None]:
    """Return the closures written at or after ``since`` (every active one when None), and the
    newest write time seen. Callers pass back a time a little earlier than that, since
    transactions commit out of timestamp order; applying a closure twice changes nothing."""
    rows = await conn.fetch(
        """SELECT * FROM road_closures
           WHERE ($1::timestamptz IS NULL AND active) OR written_at >= $1
           ORDER BY written_at, id""",
        since,
    )
    fields = ("id", "source", "source_id", "geometry", "reason", "active", "changed_at")
    closures = [RoadClosure.model_validate({k: r[k] for k in fields}) for r in rows]
    newest = max((r["written_at"] for r in rows), default=since)
    return closures, newest
