"""Residents over real HTTP: registration, their own record, push channels, answers, erasure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import aiohttp
import asyncpg
import pytest

from disaster import store
from disaster.domain import Alert, AlertLevel
from tests.support import square

HOME = {"lat": 35.70, "lon": 139.70}
WORK = {"lat": 35.68, "lon": 139.76}


async def _register(http: aiohttp.ClientSession, **body: object) -> tuple[str, dict[str, str]]:
    payload = {"locations": {"home": HOME}, "language": "ja", **body}
    async with http.post("/api/v1/subscribers", json=payload) as resp:
        assert resp.status == 201, await resp.text()
        created = await resp.json()
    return created["id"], {"Authorization": f"Bearer {created['token']}"}


async def test_a_resident_sees_and_changes_only_their_own_record(
    http: aiohttp.ClientSession,
) -> None:
    current = {**WORK, "expires_in_min": 30}
    sub_id, auth = await _register(
        http, locations={"home": HOME, "work": WORK, "current": current},
        needs=["wheelchair"], drills=True, language="ja-easy",
    )  # fmt: skip
    async with http.get(f"/api/v1/subscribers/{sub_id}", headers=auth) as resp:
        mine = await resp.json()
    assert mine["locations"]["home"] == HOME
    assert mine["locations"]["work"] == WORK
    assert 29 <= mine["locations"]["current"]["expires_in_min"] <= 30
    assert (mine["needs"], mine["drills"], mine["language"]) == (["wheelchair"], True, "ja-easy")
    assert "token" not in mine

    change = {"locations": {"work": None}, "language": "en", "needs": []}
    async with http.patch(f"/api/v1/subscribers/{sub_id}", json=change, headers=auth) as resp:
        assert resp.status == 200
        changed = await resp.json()
    assert changed["locations"]["work"] is None
    assert changed["locations"]["home"] == HOME  # not mentioned: kept
    assert (changed["language"], changed["needs"]) == ("en", [])

    _, someone_else = await _register(http)
    for headers in ({}, someone_else, {"Authorization": "Bearer nonsense"}):
        async with http.get(f"/api/v1/subscribers/{sub_id}", headers=headers) as resp:
            assert resp.status == 401
        async with http.delete(f"/api/v1/subscribers/{sub_id}", headers=headers) as resp:
            assert resp.status == 401
    async with http.get(f"/api/v1/subscribers/{uuid.uuid4()}", headers=auth) as resp:
        assert resp.status == 404


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"locations": {}}, "needs at least one location"),
        ({"location": HOME, "locations": {"home": HOME}}, "home location once"),
        ({"locations": {"current": {**HOME, "expires_in_min": 100_000}}}, "expires_in_min"),
        ({"locations": {"home": HOME}, "needs": ["jetpack"]}, "needs.0"),
    ],
)
async def test_bad_registrations_say_why(
    http: aiohttp.ClientSession, body: dict, reason: str
) -> None:
    async with http.post("/api/v1/subscribers", json=body) as resp:
        assert resp.status == 422
        assert reason in (await resp.json())["reason"]


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        ("https://10.0.0.1/push/x", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("http://push.example.com/x", "https"),
    ],
)
async def test_push_endpoints_that_could_reach_inside_are_refused(
    http: aiohttp.ClientSession, endpoint: str, reason: str
) -> None:
    sub_id, auth = await _register(http)
    body = {"endpoint": endpoint, "keys": {"p256dh": "BAAA", "auth": "AAAA"}}
    async with http.post(f"/api/v1/subscribers/{sub_id}/push", json=body, headers=auth) as resp:
        assert resp.status == 422
        assert reason in (await resp.json())["reason"]


async def test_erasure_removes_everything_about_the_resident(
    http: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    sub_id, auth = await _register(http, locations={"home": HOME, "work": WORK})
    push = {"endpoint": "https://push.example.com/abc", "keys": {"p256dh": "BAAA", "auth": "AA"}}
    async with http.post(f"/api/v1/subscribers/{sub_id}/push", json=push, headers=auth) as resp:
        assert resp.status == 201
    async with http.post(
        f"/api/v1/subscribers/{sub_id}/answers", json={"status": "safe"}, headers=auth
    ) as resp:
        assert resp.status == 201
    async with http.delete(f"/api/v1/subscribers/{sub_id}", headers=auth) as resp:
        assert resp.status == 204
    async with pool.acquire() as conn:
        for table, column in (("subscribers", "id"), ("subscriber_locations", "subscriber_id"),
                              ("push_channels", "subscriber_id"), ("answers", "subscriber_id"),
                              ("deliveries", "subscriber_id")):  # fmt: skip
            left = await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE {column} = $1",
                uuid.UUID(sub_id),
            )
            assert left == 0, table
    async with http.get(f"/api/v1/subscribers/{sub_id}", headers=auth) as resp:
        assert resp.status == 404


async def test_hq_sees_answers_and_the_unanswered_vulnerable_first(
    http: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    people = {}
    for name, needs in (
        ("safe", []),
        ("help", []),
        ("quiet", []),
        ("quiet-wheelchair", ["wheelchair"]),
    ):
        people[name] = await _register(http, needs=needs)
    alert = Alert(id=uuid.uuid4(), level=AlertLevel.EVACUATE, hazard="flood", area_name="t",
                  area=square(139.7, 35.7),
                  headline={"ja": "避難指示"}, issued_at=datetime.now(UTC))  # fmt: skip
    async with pool.acquire() as conn:
        await store.insert_alert(conn, alert)
        await conn.execute(
            """INSERT INTO deliveries (alert_id, subscriber_id, channel)
               SELECT $1, unnest($2::uuid[]), 'inbox'""",
            alert.id, [uuid.UUID(p[0]) for p in people.values()],
        )  # fmt: skip
    for name, status in (("safe", "safe"), ("help", "need_help")):
        sub_id, auth = people[name]
        body = {"status": status, "alert_id": str(alert.id)}
        async with http.post(
            f"/api/v1/subscribers/{sub_id}/answers", json=body, headers=auth
        ) as resp:
            assert resp.status == 201
    async with http.get(f"/api/v1/alerts/{alert.id}/answers") as resp:
        summary = await resp.json()
    assert (summary["targeted"], summary["safe"], summary["need_help"]) == (4, 1, 1)
    assert summary["unanswered"] == 2
    assert [u["subscriber_id"] for u in summary["not_answered"]] == [
        people["quiet-wheelchair"][0], people["quiet"][0],
    ]  # fmt: skip
