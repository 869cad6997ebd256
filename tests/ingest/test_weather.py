"""Weather ingestion on the real broker and Postgres: series, drills, duplicates, attacks."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from disaster import topics
from disaster.services import Running
from ingest.jma import parse_jma
from ingest.weather import parse_weather, report_area_codes, weather_event
from tests.support import records_with_key, wait_until

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
VXWW = (DATA / "jma_xml" / "17_01_01_190529_VXWW50.xml").read_bytes()


def _telegram(office: str, report_time: str, serial: int, status: str = "通常") -> bytes:
    """The VXWW50 sample re-dated and re-addressed, as the next telegrams of its series."""
    return (
        VXWW.replace("福岡管区気象台".encode(), office.encode())
        .replace(b"2013-08-31T02:05:17Z", f"{report_time[:10]}T00:00:00Z".encode())
        .replace(b"2013-08-31T11:05:00+09:00", report_time.encode())
        .replace(b"<Serial>5</Serial>", f"<Serial>{serial}</Serial>".encode())
        .replace("<Status>通常</Status>".encode(), f"<Status>{status}</Status>".encode(), 1)
    )


def test_the_format_is_told_by_content() -> None:
    [report] = parse_weather(VXWW)
    assert report.source == "jma"
    cap = (DATA / "cap" / "google_cap-library" / "weather.cap").read_bytes()
    assert {r.source for r in parse_weather(cap)} == {"cap"}


def test_a_landslide_alert_event_names_its_municipalities_and_level() -> None:
    report = parse_jma(VXWW)
    event = weather_event(report)
    assert event.alert_level == 4
    assert event.area_codes == report_area_codes(report)
    assert event.area_codes
    assert event.report_id == report.id


async def _events_for(pool: asyncpg.Pool, report_ids: list[str]) -> dict[str, int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT source_id, count(*) AS n FROM hazard_events WHERE source_id = ANY($1) "
            "GROUP BY source_id",
            report_ids,
        )
    return {r["source_id"]: r["n"] for r in rows}


async def test_newest_report_speaks_for_its_series_and_drills_never_count_as_real(
    running: Running, producer: AIOKafkaProducer
) -> None:
    office = f"試験気象台{uuid.uuid4().hex[:6]}"
    newer = _telegram(office, "2026-06-03T11:00:00+09:00", 2)
    older = _telegram(office, "2026-06-03T10:00:00+09:00", 1)
    newest = _telegram(office, "2026-06-03T12:00:00+09:00", 3)
    drill = _telegram(office, "2026-06-03T13:00:00+09:00", 4, status="訓練")
    ids = [parse_jma(raw).id for raw in (newer, older, newest, drill)]
    for raw in (newer, older, newer, newest, drill):  # `newer` twice: a redelivery
        await producer.send_and_wait(topics.WEATHER_RAW, raw, key=office.encode())

    async def stored() -> bool:
        async with running.pool.acquire() as conn:
            n = await conn.fetchval("SELECT count(*) FROM weather_reports WHERE id = ANY($1)", ids)
        return n == 4

    await wait_until(stored)
    assert await _events_for(running.pool, ids) == {ids[0]: 1, ids[2]: 1}
    async with running.pool.acquire() as conn:
        latest = await conn.fetch(
            "SELECT series, latest_id FROM weather_series WHERE latest_id = ANY($1)", ids
        )
        original = await conn.fetchval("SELECT original FROM weather_reports WHERE id = $1", ids[1])
    assert {r["latest_id"] for r in latest} == {ids[2], ids[3]}  # the drill is its own series
    assert original == older


@pytest.mark.parametrize(
    ("name", "reason"),
    [("xee.cap", "unsafe XML"), ("invalid.cap", "")],
)
async def test_hostile_and_invalid_documents_go_to_the_dlq(
    running: Running, producer: AIOKafkaProducer, bootstrap: str, name: str, reason: str
) -> None:
    raw = (DATA / "cap" / "google_cap-library" / name).read_bytes()
    key = f"dlq-{uuid.uuid4().hex}".encode()
    await producer.send_and_wait(topics.WEATHER_RAW, raw, key=key)

    async def rejected() -> str | None:
        async with running.pool.acquire() as conn:
            return await conn.fetchval(
                "SELECT reason FROM rejected_inputs WHERE record_key = $1", key
            )

    found = await wait_until(rejected)
    assert reason in found
    [dead] = await records_with_key(bootstrap, topics.WEATHER_DLQ, key, 1)
    assert dead["reason"] == found
    assert dead["topic"] == topics.WEATHER_RAW


async def test_reports_and_events_are_queryable_by_area_time_and_kind(
    running: Running, http: aiohttp.ClientSession, producer: AIOKafkaProducer
) -> None:
    office = f"試験気象台{uuid.uuid4().hex[:6]}"
    raw = _telegram(office, "2026-06-04T09:00:00+09:00", 1)
    report = parse_jma(raw)
    code = report_area_codes(report)[0]
    await producer.send_and_wait(topics.WEATHER_RAW, raw, key=office.encode())

    async def listed() -> list[dict] | None:
        params = {"area_code": code, "current": "true", "since": "2026-06-04T00:00:00+09:00",
                  "mode": "actual", "limit": "500"}  # fmt: skip
        async with http.get("/api/v1/weather/reports", params=params) as resp:
            assert resp.status == 200
            found = [r for r in await resp.json() if r["id"] == report.id]
        return found or None

    [shown] = await wait_until(listed)
    assert shown["title"] == report.title
    params = {"kind": "weather.report", "since": "2026-06-04T00:00:00+09:00", "limit": "500"}
    async with http.get("/api/v1/events", params=params) as resp:
        events = [e for e in await resp.json() if e["report_id"] == report.id]
    assert [e["alert_level"] for e in events] == [4]
    async with http.get("/api/v1/weather/reports", params={"mode": "real"}) as resp:
        assert resp.status == 400
