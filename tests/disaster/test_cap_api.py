"""Alerts as CAP 1.2 and as an Atom feed of CAP, over real HTTP, checked against the schema and
read back by our own CAP reader."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
from lxml import etree

from disaster import store
from disaster.domain import Alert, AlertLevel, Circle, GeoPoint
from ingest.cap import parse_cap
from tests.support import square

LIBRARY = Path(__file__).resolve().parents[3] / "shared" / "data" / "cap" / "google_cap-library"
SCHEMA = etree.XMLSchema(etree.parse(str(LIBRARY / "cap12.xsd")))


async def test_an_alert_is_served_as_valid_cap_and_listed_in_the_feed(
    http: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    alert = Alert(id=uuid.uuid4(), level=AlertLevel.EVACUATE, hazard="flood", area_name="新川流域",
                  area=square(139.7, 35.7), issued_at=datetime.now(UTC).replace(microsecond=0),
                  circles=[Circle(center=GeoPoint(lat=35.71, lon=139.71), radius_m=800)],
                  headline={"ja": "新川が氾濫危険水位に達しました。", "en": "Flood danger."},
                  exercise=True)  # fmt: skip
    async with pool.acquire() as conn:
        await store.insert_alert(conn, alert)

    async with http.get(f"/api/v1/alerts/{alert.id}/cap") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/cap+xml"
        document = await resp.read()
    SCHEMA.assertValid(etree.fromstring(document))
    [report] = parse_cap(document)
    assert report.mode == "exercise"
    assert report.id == f"cap:hq@disaster.example.invalid:urn:uuid:{alert.id}"
    assert report.items[0].alert_level == AlertLevel.EVACUATE
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    languages = etree.fromstring(document).xpath("//cap:info/cap:language/text()", namespaces=ns)
    assert set(languages) >= {"ja-JP", "en-US"}

    async with http.get("/api/v1/alerts.atom") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/atom+xml"
        feed = await resp.read()
    assert report.id in {r.id for r in parse_cap(feed)}

    async with http.get(f"/api/v1/alerts/{uuid.uuid4()}/cap") as resp:
        assert resp.status == 404
