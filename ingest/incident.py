"""The incident ingestor: reports and resolutions on ``incident.raw`` in, incidents out.

A report joins an open incident of the same kind nearby (see :func:`merge_target`) or opens a
new one; a drill's reports (marked with the exercise header) join only their own run's
incidents, real reports only real ones. A blocked road closes that road on ``road.closures``
and resolving the incident reopens it. Everything is stored before it is published, so a
redelivered record publishes again rather than being lost.
"""

from __future__ import annotations

import uuid

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord

from disaster import incident_store, store, topics
from disaster._kafka import decode_record, encode_json
from disaster.domain import IncidentEvent
from disaster.domain.incident import (
    AREA_CLOSES_ROADS,
    IncidentReport,
    IncidentResolution,
    incident_message_adapter,
    merge_search_box,
    merge_target,
)
from disaster.domain.roads import RoadClosure, closure_geometry, widened
from disaster.exercise import exercise_run_of

__all__ = ["IncidentIngestor", "area_closure_id", "closure_id", "incident_event_id"]

_EVENT_NAMESPACE = uuid.UUID("0e9b6f5d-8c1a-4e2b-b7d3-6a4f2c9e1b85")


def incident_event_id(message: IncidentReport | IncidentResolution) -> uuid.UUID:
    """Return the id of the event one message causes (the same on every redelivery)."""
    if isinstance(message, IncidentReport):
        return uuid.uuid5(_EVENT_NAMESPACE, f"report:{message.report_id}")
    return uuid.uuid5(_EVENT_NAMESPACE, f"resolve:{message.incident_id}")


def closure_id(incident_id: uuid.UUID) -> str:
    """Return the id of the road closure a blocked-road incident causes."""
    return f"incident:{incident_id}"


def area_closure_id(incident_id: uuid.UUID) -> str:
    """Return the id of the closure of every road in an incident's area (a flooded district).

    Separate from :func:`closure_id`, so a blocked road and the flood around it are both kept.
    """
    return f"incident:{incident_id}:area"


class IncidentIngestor:
    """Handles ``incident.raw`` records."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer) -> None:
        self._pool = pool
        self._producer = producer

    async def handle(self, record: ConsumerRecord) -> None:
        """Store the report or resolution, then publish its event and any closure change."""
        message = decode_record(record.value, incident_message_adapter(), "an incident message")
        drill = exercise_run_of(record)
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                if isinstance(message, IncidentReport):
                    incident_id = await self._file_report(conn, message, drill)
                else:
                    incident_id = await self._resolve(conn, message, drill)
            events = await store.hazard_events_by_ids(conn, [incident_event_id(message)])
            closures = [
                await incident_store.road_closure_by_id(conn, cid)
                for cid in (closure_id(incident_id), area_closure_id(incident_id))
            ]
        for event in events:
            body = encode_json(event.model_dump(mode="json"))
            await self._producer.send_and_wait(
                topics.HAZARD_EVENTS, body, key=event.area_name.encode()
            )
        for closure in closures:
            if closure is not None:
                await self._producer.send_and_wait(
                    topics.ROAD_CLOSURES,
                    encode_json(closure.model_dump(mode="json")),
                    key=closure.id.encode(),
                )

    async def _file_report(
        self, conn: asyncpg.Connection, report: IncidentReport, drill: str | None
    ) -> uuid.UUID:
        known = await incident_store.incident_of_report(conn, report.report_id)
        if known is not None:
            return known  # a redelivery: publish again what it caused
        box = merge_search_box(report)
        candidates = await incident_store.open_incidents_near(conn, report.kind, box, drill)
        target = merge_target(report, candidates)
        if target is None:
            incident_id = await incident_store.create_incident(conn, report, drill)
            if report.kind == "blocked_road" and (report.location or report.line):
                await incident_store.upsert_road_closure(conn, _closure(incident_id, report))
        else:
            incident_id = target.id
            await incident_store.merge_into_incident(conn, incident_id, report)
        if report.area is not None and report.kind in AREA_CLOSES_ROADS:
            await _close_area(conn, incident_id, report)
        await incident_store.insert_incident_report(conn, report, incident_id)
        await self._record_event(conn, incident_id, incident_event_id(report), drill)
        return incident_id

    async def _resolve(
        self, conn: asyncpg.Connection, resolution: IncidentResolution, drill: str | None
    ) -> uuid.UUID:
        incident_id = resolution.incident_id
        if await incident_store.resolve_incident(conn, incident_id, resolution.resolved_at):
            await self._record_event(conn, incident_id, incident_event_id(resolution), drill)
            for cid in (closure_id(incident_id), area_closure_id(incident_id)):
                closure = await incident_store.road_closure_by_id(conn, cid)
                if closure is not None and closure.active:
                    reopened = closure.model_copy(
                        update={"active": False, "changed_at": resolution.resolved_at}
                    )
                    await incident_store.upsert_road_closure(conn, reopened)
        return incident_id

    async def _record_event(
        self,
        conn: asyncpg.Connection,
        incident_id: uuid.UUID,
        event_id: uuid.UUID,
        drill: str | None,
    ) -> None:
        incident = await incident_store.incident_by_id(conn, incident_id)
        assert incident is not None
        event = IncidentEvent(
            id=event_id,
            observed_at=incident["resolved_at"] or incident["last_reported_at"],
            area_name=f"incident {incident['kind']}",
            location=incident["location"],
            incident_id=incident_id,
            incident_kind=incident["kind"],
            severity=incident["severity"],
            status=incident["status"],
            report_count=incident["report_count"],
            exercise_run=drill,
        )
        await store.insert_hazard_event(conn, event)


async def _close_area(
    conn: asyncpg.Connection, incident_id: uuid.UUID, report: IncidentReport
) -> None:
    """Close every road in the reported area, widening the incident's closed area if it has
    one: a later report of the same flood adds its streets."""
    assert report.area is not None
    current = await incident_store.road_closure_by_id(conn, area_closure_id(incident_id))
    geometry = (
        widened(current.geometry, report.area)
        if current is not None and current.active
        else report.area.model_dump(mode="json")
    )
    await incident_store.set_incident_area(conn, incident_id, geometry)
    closure = RoadClosure(
        id=area_closure_id(incident_id),
        source="incident",
        source_id=str(incident_id),
        geometry=geometry,
        reason=report.description or f"{report.kind} over this area",
        active=True,
        changed_at=report.reported_at,
    )
    await incident_store.upsert_road_closure(conn, closure)


def _closure(incident_id: uuid.UUID, report: IncidentReport) -> RoadClosure:
    return RoadClosure(
        id=closure_id(incident_id),
        source="incident",
        source_id=str(incident_id),
        geometry=closure_geometry(report.location, report.line),
        reason=report.description or "blocked road reported",
        active=True,
        changed_at=report.reported_at,
    )
