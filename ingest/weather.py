"""The weather ingestor: JMA XML and CAP on ``weather.raw`` in, stored reports and events out.

Each report is stored with its original document. A series (see :class:`WeatherReport`) is
spoken for by its newest report; only when a real (通常/Actual) report becomes the newest of its
series does a hazard event go out, so a late, older telegram never overrides a newer one and a
訓練 or 試験 telegram never reaches residents.
"""

from __future__ import annotations

import uuid

import asyncpg
import shapely
from aiokafka import AIOKafkaProducer, ConsumerRecord

from disaster import store, topics
from disaster._kafka import encode_json
from disaster.domain import InvalidInputError, WeatherEvent
from disaster.domain.weather import WeatherReport
from disaster.exercise import exercise_run_of
from ingest.cap import parse_cap
from ingest.jma import JmaLevelMap, parse_jma

__all__ = ["WeatherIngestor", "parse_weather", "report_area_codes", "report_bbox", "weather_event"]

_EVENT_NAMESPACE = uuid.UUID("5f0c7a4e-2d61-4b8f-9c3e-8a1b6d2e4f70")
_JMA_NAMESPACE_MARK = b"xml.kishou.go.jp/jmaxml1"


def parse_weather(raw: bytes | None, levels: JmaLevelMap | None = None) -> list[WeatherReport]:
    """Parse a JMA telegram, a CAP alert or a feed of CAP alerts, told apart by content."""
    if not raw:
        msg = "empty record: expected a JMA XML telegram or a CAP alert"
        raise InvalidInputError(msg)
    if _JMA_NAMESPACE_MARK in raw[:4096]:
        return [parse_jma(raw, levels)]
    return parse_cap(raw)


def report_area_codes(report: WeatherReport) -> list[str]:
    """Return every area code a report names (JMA codes and CAP geocode values), sorted."""
    codes = {
        code
        for item in report.items
        for area in item.areas
        for code in [area.code, *(g.value for g in area.geocodes)]
        if code
    }
    return sorted(codes)


def report_bbox(report: WeatherReport) -> list[float] | None:
    """Return ``[min_lon, min_lat, max_lon, max_lat]`` of the report's geometry, or None."""
    shapes = [
        shape
        for item in report.items
        for area in item.areas
        for shape in [
            *(p.to_shape() for p in area.polygons),
            *(shapely.Point(c.center.lon, c.center.lat).buffer(c.radius_km / 111.0)
              for c in area.circles),
        ]
    ]  # fmt: skip
    if not shapes:
        return None
    return [float(v) for v in shapely.union_all(shapes).bounds]


def weather_event(report: WeatherReport, exercise_run: str | None = None) -> WeatherEvent:
    """Return the event saying this report now speaks for its series (of a drill run, if
    ``exercise_run`` is given)."""
    areas = [area for item in report.items for area in item.areas]
    polygon = next((p for area in areas for p in area.polygons), None)
    cancelled = report.info_type == "cancel"
    return WeatherEvent(
        id=uuid.uuid5(_EVENT_NAMESPACE, report.id),
        observed_at=report.reported_at,
        area_name=areas[0].description if areas else report.title,
        area=polygon,
        area_codes=report_area_codes(report),
        alert_level=None if cancelled else report.alert_level,
        report_id=report.id,
        series=report.series,
        title=report.title,
        info_type=report.info_type,
        headline=report.headline,
        exercise_run=exercise_run,
    )


class WeatherIngestor:
    """Handles ``weather.raw`` records; a redelivered document is stored and announced once."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, levels: JmaLevelMap) -> None:
        self._pool = pool
        self._producer = producer
        self._levels = levels

    async def handle(self, record: ConsumerRecord) -> None:
        """Store every report in the record and publish the events they cause."""
        reports = parse_weather(record.value, self._levels)
        drill = exercise_run_of(record)
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                for report in reports:
                    await self._store(conn, report, record.value or b"", drill)
            events = [e for r in reports for e in await store.hazard_events_of(conn, r.id)]
        for event in events:
            await self._producer.send_and_wait(
                topics.HAZARD_EVENTS,
                encode_json(event.model_dump(mode="json")),
                key=event.area_name.encode(),
            )

    async def _store(
        self, conn: asyncpg.Connection, report: WeatherReport, raw: bytes, drill: str | None
    ) -> None:
        stored = await store.insert_weather_report(
            conn, report, raw, area_codes=report_area_codes(report), bbox=report_bbox(report)
        )
        if not stored:
            return  # a redelivery: its event (if any) is published again by the caller
        # A 訓練 telegram counts only inside a drill run (marked by its record header).
        wanted = "actual" if drill is None else "exercise"
        if await store.advance_weather_series(conn, report) and report.mode == wanted:
            await store.insert_hazard_event(conn, weather_event(report, drill))
