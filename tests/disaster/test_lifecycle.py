"""The alert lifecycle over real HTTP: draft, preview, approval (two operators at level 5),
issue, update and cancel, each version kept, CAP msgType and references, the audit log."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiohttp
import asyncpg
from lxml import etree

from tests.support import operator_token, square, wait_until

CAP = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
LIBRARY = Path(__file__).resolve().parents[3] / "shared" / "data" / "cap" / "google_cap-library"
SCHEMA = etree.XMLSchema(etree.parse(str(LIBRARY / "cap12.xsd")))


async def _resident(http: aiohttp.ClientSession, lon: float, lat: float, **extra: object) -> str:
    body = {"locations": {"home": {"lat": lat, "lon": lon}}, **extra}
    async with http.post("/api/v1/subscribers", json=body) as resp:
        return (await resp.json())["id"]


async def _inboxed(pool: asyncpg.Pool, alert_id: str) -> set[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT subscriber_id FROM deliveries WHERE alert_id = $1 AND channel = 'inbox'",
            uuid.UUID(alert_id),
        )
    return {str(r["subscriber_id"]) for r in rows}


async def _post(http: aiohttp.ClientSession, path: str, auth: dict, body: dict | None = None,
                status: int = 200) -> dict:  # fmt: skip
    async with http.post(path, json=body or {}, headers=auth) as resp:
        assert resp.status == status, await resp.text()
        return await resp.json()


async def test_a_level_5_alert_needs_two_operators_then_updates_and_is_cancelled(
    http: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    first_name, first = await operator_token(http, "operator")
    second_name, second = await operator_token(http, "operator")
    lon, lat = 175.0, -40.0
    plain = await _resident(http, lon + 0.002, lat + 0.002)
    frail = await _resident(http, lon + 0.004, lat + 0.004, needs=["wheelchair"])
    await _resident(http, lon + 0.05, lat + 0.05)  # outside

    draft_in = {"level": 5, "hazard": "flood", "area_name": "南川下流",
                "area": square(lon, lat).model_dump(mode="json"),
                "headline": {"ja": "南川が氾濫しました。命を守る行動を。"}}  # fmt: skip
    draft = await _post(http, "/api/v1/alerts/drafts", first, draft_in, status=201)
    assert (draft["status"], draft["version"], draft["created_by"]) == ("draft", 1, first_name)
    async with http.get(f"/api/v1/alerts/{draft['id']}/preview", headers=first) as resp:
        reach = await resp.json()
    assert (reach["alert_id"], reach["residents"], reach["vulnerable"]) == (draft["id"], 2, 1)
    async with http.get("/api/v1/alerts") as resp:  # drafts are not public
        assert draft["id"] not in {a["id"] for a in await resp.json()}

    await _post(http, f"/api/v1/alerts/{draft['id']}/issue", first, status=409)
    once = await _post(http, f"/api/v1/alerts/{draft['id']}/approve", first)
    again = await _post(http, f"/api/v1/alerts/{draft['id']}/approve", first)
    assert once["status"] == again["status"] == "draft"  # the same operator counts once
    approved = await _post(http, f"/api/v1/alerts/{draft['id']}/approve", second)
    assert approved["status"] == "approved"
    issued = await _post(http, f"/api/v1/alerts/{draft['id']}/issue", second)
    assert issued["status"] == "issued"
    assert await wait_until(lambda: _inboxed(pool, draft["id"])) == {plain, frail}

    change = {"headline": {"ja": "南川の氾濫が拡大しています。"}}
    update = await _post(http, f"/api/v1/alerts/{draft['id']}/update", first, change, 201)
    assert (update["msg_type"], update["version"], update["series_id"]) == (
        "Update", 2, draft["id"],
    )  # fmt: skip
    for who in (first, second):
        await _post(http, f"/api/v1/alerts/{update['id']}/approve", who)
    await _post(http, f"/api/v1/alerts/{update['id']}/issue", first)
    assert await wait_until(lambda: _inboxed(pool, update["id"])) == {plain, frail}

    cancel = await _post(http, f"/api/v1/alerts/{draft['id']}/cancel", second,
                         {"all_clear": True}, status=201)  # fmt: skip
    assert (cancel["msg_type"], cancel["version"], cancel["status"]) == ("Cancel", 3, "issued")
    assert "解除" in cancel["headline"]["ja"]
    async with http.get(f"/api/v1/alerts/{draft['id']}/versions", headers=first) as resp:
        states = [(v["version"], v["msg_type"], v["status"]) for v in await resp.json()]
    assert states == [(1, "Alert", "superseded"), (2, "Update", "cancelled"),
                      (3, "Cancel", "issued")]  # fmt: skip

    async with http.get(f"/api/v1/alerts/{cancel['id']}/cap") as resp:
        doc = etree.fromstring(await resp.read())
    assert doc.xpath("string(cap:msgType)", namespaces=CAP) == "Cancel"
    references = doc.xpath("string(cap:references)", namespaces=CAP)
    assert f"urn:uuid:{draft['id']}" in references
    assert f"urn:uuid:{update['id']}" in references

    async with http.get("/api/v1/audit", params={"limit": "100"}) as resp:
        done = {(e["actor"], e["action"]) for e in await resp.json()}
    assert (second_name, "POST /api/v1/alerts/{id}/issue") in done
    assert (first_name, "POST /api/v1/alerts/{id}/approve") in done


async def test_an_alert_limited_to_profiles_reaches_only_those_residents_inside(
    http: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    """A level 3 (高齢者等避難) for those who need time: wheelchair users and slow walkers
    (an infant makes a slow walker) inside; not the others inside, not anyone outside. An
    update may open it to everyone again."""
    _, auth = await operator_token(http, "operator")
    lon, lat = 176.0, -41.0
    plain = await _resident(http, lon + 0.002, lat + 0.002)
    wheel = await _resident(http, lon + 0.003, lat + 0.003, needs=["wheelchair"])
    infant = await _resident(http, lon + 0.004, lat + 0.004, needs=["infant", "no_car"])
    deaf = await _resident(http, lon + 0.005, lat + 0.005, needs=["hearing"])  # walks
    await _resident(http, lon + 0.05, lat + 0.05, needs=["wheelchair"])  # outside

    draft_in = {"level": 3, "hazard": "flood", "area_name": "北川沿い",
                "area": square(lon, lat).model_dump(mode="json"),
                "profiles": ["wheelchair", "slow_walk", "wheelchair"],
                "headline": {"ja": "北川沿いに高齢者等避難を発令しました。"}}  # fmt: skip
    draft = await _post(http, "/api/v1/alerts/drafts", auth, draft_in, status=201)
    assert draft["profiles"] == ["slow_walk", "wheelchair"]
    async with http.get(f"/api/v1/alerts/{draft['id']}/preview", headers=auth) as resp:
        reach = await resp.json()
    assert (reach["residents"], reach["vulnerable"]) == (2, 2)
    await _post(http, f"/api/v1/alerts/{draft['id']}/approve", auth)
    await _post(http, f"/api/v1/alerts/{draft['id']}/issue", auth)
    assert await wait_until(lambda: _inboxed(pool, draft["id"])) == {wheel, infant}

    async with http.get(f"/api/v1/alerts/{draft['id']}/cap") as resp:
        doc = etree.fromstring(await resp.read())
    SCHEMA.assertValid(doc)
    audiences = doc.xpath("//cap:info/cap:audience/text()", namespaces=CAP)
    assert len(audiences) == len(doc.xpath("//cap:info", namespaces=CAP)) > 1
    assert all("slow_walk (" in a and "wheelchair (" in a and "walk (" not in a.replace(
        "slow_walk (", "") for a in audiences)  # fmt: skip
    english = doc.xpath("string(//cap:info[cap:language='en-US']/cap:audience)", namespaces=CAP)
    assert english.startswith("Only residents of these evacuation profiles: slow_walk (")
    assert ", wheelchair (wheelchair users)" in english

    everyone = await _post(http, f"/api/v1/alerts/{draft['id']}/update", auth,
                           {"profiles": []}, status=201)  # fmt: skip
    assert everyone["profiles"] == []
    async with http.get(f"/api/v1/alerts/{everyone['id']}/preview", headers=auth) as resp:
        assert (await resp.json())["residents"] == 4  # everyone inside
    await _post(http, f"/api/v1/alerts/{everyone['id']}/approve", auth)
    await _post(http, f"/api/v1/alerts/{everyone['id']}/issue", auth)
    assert await wait_until(lambda: _inboxed(pool, everyone["id"])) == {plain, wheel, infant, deaf}
    async with http.get(f"/api/v1/alerts/{everyone['id']}/cap") as resp:
        doc = etree.fromstring(await resp.read())
    SCHEMA.assertValid(doc)
    assert doc.xpath("//cap:audience", namespaces=CAP) == []
