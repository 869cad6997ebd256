"""Walking every route: HQ routes refuse anonymous and wrong-role callers, residents reach only
their own data, public routes are rate-limited, and no secret or resident location is logged.

The routes come from both the OpenAPI document (what we promise) and the app's router (what
runs), so a route added without documentation, or documented without guarding, is walked too.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from disaster.access import ACCESS, RATE_LIMITS
from disaster.app import create_app
from disaster.settings import Settings
from notify.vapid import vapid_key_from_file
from tests.notify.push_service import PushService
from tests.support import browser_session, new_operator, operator_token, square

HQ_ROLES = ("viewer", "operator", "admin")
#: The role just below the one a route needs: it must get 403, not the route.
BELOW = {"operator": "viewer", "admin": "operator"}
METHODS = ("get", "put", "post", "patch", "delete")


def _routes(settings: Settings, document: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (method, path) of the router and of the OpenAPI document."""
    routed = {
        (r.method, r.resource.canonical)
        for r in create_app(settings).router.routes()
        if r.method != "HEAD" and r.resource is not None
    }
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in METHODS
    }
    assert documented - routed == set(), "documented routes that do not exist"
    return routed | documented


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


async def _status(
    session: aiohttp.ClientSession, method: str, path: str, headers: dict[str, str]
) -> tuple[int, str]:
    body = None if method in ("GET", "DELETE") else {}
    async with session.request(method, _fill(path), json=body, headers=headers) as resp:
        reason = (await resp.json())["reason"] if resp.status >= 400 else ""
        return resp.status, reason


@pytest.fixture
async def openapi(anonymous: aiohttp.ClientSession) -> dict[str, Any]:
    async with anonymous.get("/api/v1/openapi.json") as resp:
        assert resp.status == 200
        return await resp.json()


async def _resident(session: aiohttp.ClientSession, **extra: Any) -> tuple[str, dict[str, str]]:
    body = {"locations": {"home": {"lat": 10.5, "lon": 10.5}}, **extra}
    async with session.post("/api/v1/subscribers", json=body) as resp:
        assert resp.status == 201, await resp.text()
        created = await resp.json()
    return created["id"], {"Authorization": f"Bearer {created['token']}"}


async def test_every_hq_route_refuses_anonymous_and_wrong_role_callers(
    settings: Settings, openapi: dict[str, Any], http: aiohttp.ClientSession,
    anonymous: aiohttp.ClientSession,
) -> None:  # fmt: skip
    tokens = {role: (await operator_token(http, role))[1] for role in ("viewer", "operator")}
    _, resident = await _resident(anonymous)
    strangers = [
        {}, resident, {"Authorization": "Bearer op_not-a-token"},
        {"Cookie": "disaster_session=forged"}, {"Authorization": "Basic YWRtaW46YWRtaW4="},
    ]  # fmt: skip
    walked = []
    for method, path in sorted(_routes(settings, openapi)):
        access = ACCESS.get((method, path), "undeclared")
        if access not in HQ_ROLES:
            continue
        walked.append((method, path))
        for headers in strangers:
            status, reason = await _status(anonymous, method, path, headers)
            assert (method, path, status) == (method, path, 401), headers
            assert reason == "log in, or give an operator API token"
        if access in BELOW:
            below = BELOW[access]
            status, reason = await _status(anonymous, method, path, tokens[below])
            assert (method, path, status) == (method, path, 403)
            assert reason == f"this needs the {access} role; you are {below}"
        documented = openapi["paths"].get(path, {}).get(method.lower(), {})
        if documented:
            assert {"401", "403"} <= documented["responses"].keys(), (method, path)
    assert len(walked) >= 30  # every HQ route of the service, not a handful


async def test_undeclared_routes_are_refused_to_everyone(
    settings: Settings, openapi: dict[str, Any]
) -> None:
    assert {route for route in _routes(settings, openapi) if route not in ACCESS} == set()


# --- residents ---------------------------------------------------------------------------------

#: A valid body for each resident route, so a refusal is about who asks, not what is sent.
RESIDENT_BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/subscribers/{id}"): {"language": "en"},
    ("POST", "/api/v1/subscribers/{id}/push"): {
        "endpoint": "https://push.example.net/p/abc", "keys": {"p256dh": "BPk", "auth": "x"}},
    ("POST", "/api/v1/subscribers/{id}/answers"): {"status": "need_help"},
}  # fmt: skip


async def _record(session: aiohttp.ClientSession, sub: str, auth: dict[str, str]) -> Any:
    async with session.get(f"/api/v1/subscribers/{sub}", headers=auth) as resp:
        return resp.status, await resp.json()


async def _kept_about(pool: asyncpg.Pool, sub: str) -> tuple[int, int]:
    async with pool.acquire() as conn:
        answers = await conn.fetchval(
            "SELECT count(*) FROM answers WHERE subscriber_id = $1", uuid.UUID(sub)
        )
        channels = await conn.fetchval(
            "SELECT count(*) FROM push_channels WHERE subscriber_id = $1", uuid.UUID(sub)
        )
    return int(answers), int(channels)


async def test_a_resident_reaches_only_their_own_record_on_every_resident_route(
    anonymous: aiohttp.ClientSession, pool: asyncpg.Pool
) -> None:
    alice, alice_auth = await _resident(anonymous, language="ja")
    bob, bob_auth = await _resident(anonymous)
    before = await _record(anonymous, alice, alice_auth)
    routes = sorted(route for route, access in ACCESS.items() if access == "resident")
    assert len(routes) >= 6
    for method, path in routes:
        url = path.replace("{id}", alice)
        body = RESIDENT_BODIES.get((method, path))
        for headers in ({}, bob_auth, {"Authorization": alice_auth["Authorization"] + "x"}):
            async with anonymous.request(method, url, json=body, headers=headers) as resp:
                answer = await resp.json()
            assert (method, path, resp.status) in {(method, path, s) for s in (401, 403, 404)}
            assert answer["reason"] == "give the resident's token: Authorization: Bearer …"
            assert "10.5" not in str(answer)
    assert await _record(anonymous, alice, alice_auth) == before  # nothing changed
    assert await _kept_about(pool, alice) == (0, 0)

    async with anonymous.delete(f"/api/v1/subscribers/{alice}", headers=alice_auth) as resp:
        assert resp.status == 204
    assert (await _record(anonymous, alice, alice_auth))[0] == 404
    assert (await _record(anonymous, bob, bob_auth))[0] == 200  # erasure is one's own only
    async with anonymous.delete(f"/api/v1/subscribers/{bob}", headers=alice_auth) as resp:
        assert resp.status == 401  # a deleted resident's token opens nothing


# --- rate limits -------------------------------------------------------------------------------


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[str]:
    """A second instance of the web app with rate limits on (the suite's is without)."""
    runner = web.AppRunner(create_app(settings.model_copy(update={"rate_limits": True})))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


#: A cheap request to each limited route (refused by validation, yet counted), and its answer.
LIMITED: dict[tuple[str, str], tuple[str, int]] = {
    ("POST", "/api/v1/subscribers"): ("/api/v1/subscribers", 422),
    ("POST", "/api/v1/incidents"): ("/api/v1/incidents", 422),
    ("GET", "/api/v1/route"): ("/api/v1/route", 400),
    ("POST", "/api/v1/auth/login"): ("/api/v1/auth/login", 422),
    ("GET", "/api/v1/subscribers/{id}"): (f"/api/v1/subscribers/{uuid.uuid4()}", 404),
}


async def test_public_routes_allow_their_rate_then_429_whatever_the_client_claims(
    limited: str,
) -> None:
    assert RATE_LIMITS.keys() <= LIMITED.keys()  # a newly limited route is tested too
    async with aiohttp.ClientSession(base_url=limited) as client:
        for (method, path), (url, refused) in LIMITED.items():
            per_minute = RATE_LIMITS.get((method, path), 120)  # 120: a resident's own routes
            for n in range(per_minute + 1):
                spoof = {"X-Forwarded-For": f"198.51.100.{n % 250}", "X-Real-IP": "203.0.113.1"}
                body = None if method == "GET" else {}
                async with client.request(method, url, json=body, headers=spoof) as resp:
                    answer = await resp.json()
                if n < per_minute:
                    assert (url, n, resp.status) == (url, n, refused)
            assert resp.status == 429
            assert answer["reason"] == "too many requests; try again later"
            assert 0 < int(resp.headers["Retry-After"]) <= 60
        async with client.get("/api/v1/alerts") as resp:  # reading warnings is never limited
            assert resp.status == 200


# --- logs --------------------------------------------------------------------------------------


def _vapid_secrets(settings: Settings) -> list[str]:
    key = vapid_key_from_file(settings.vapid_path).private_key
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    body = [line for line in pem.splitlines() if "-----" not in line]
    return [base64.urlsafe_b64encode(raw).rstrip(b"=").decode(), raw.hex(), *body]


async def _issue(http: aiohttp.ClientSession, auth: dict[str, str], lon: float, lat: float) -> str:
    draft = {"level": 3, "hazard": "flood", "area_name": "ログ試験地区",
             "area": square(lon - 0.005, lat - 0.005, 0.02).model_dump(mode="json"),
             "headline": {"ja": "ログ試験です"}}  # fmt: skip
    async with http.post("/api/v1/alerts/drafts", json=draft, headers=auth) as resp:
        assert resp.status == 201, await resp.text()
        alert_id = (await resp.json())["id"]
    for step in ("approve", "issue"):
        async with http.post(f"/api/v1/alerts/{alert_id}/{step}", headers=auth) as resp:
            assert resp.status == 200, await resp.text()
    return alert_id


async def test_no_secret_or_resident_location_reaches_the_logs(
    settings: Settings, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession,
    pool: asyncpg.Pool, admin_token: str, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.WARNING, logger="aiokafka")  # as ``disaster -v`` logs
    caplog.set_level(logging.DEBUG)  # (this order: the handler's level is the last one set)
    lat, lon = 18.123457, 171.987651  # digits no other test uses; home is 0.001° north-east
    name, password = await new_operator(http, "operator")
    async with browser_session(str(http._base_url)) as browser:
        async with browser.post(
            "/api/v1/auth/login", json={"username": name, "password": password + "!"}
        ) as resp:
            assert resp.status == 401  # a wrong guess is not logged either
        async with browser.post("/api/v1/auth/login",
                                json={"username": name, "password": password}) as resp:  # fmt: skip
            csrf = (await resp.json())["csrf_token"]
            session = resp.cookies["disaster_session"].value
        async with browser.post("/api/v1/auth/tokens", json={"name": "logs"},
                                headers={"X-CSRF-Token": csrf}) as resp:  # fmt: skip
            token = (await resp.json())["token"]
    auth = {"Authorization": f"Bearer {token}"}
    push = PushService()
    await push.start()
    try:
        body = {"locations": {"home": {"lat": 18.124457, "lon": 171.988651}}}
        async with anonymous.post("/api/v1/subscribers", json=body) as resp:
            resident = await resp.json()
        subscription = push.subscribe()
        async with anonymous.post(
            f"/api/v1/subscribers/{resident['id']}/push", json=subscription,
            headers={"Authorization": f"Bearer {resident['token']}"},
        ) as resp:  # fmt: skip
            assert resp.status == 201
        async with anonymous.get("/api/v1/route", params={"from": f"{lat},{lon}"}) as resp:
            assert resp.status in (200, 503)  # 503 while no city is loaded
        await _issue(http, auth, lon, lat)
        endpoint = str(subscription["endpoint"])
        await push.wait_until(lambda: len(push.received(endpoint)) == 1)
    finally:
        await push.close()

    secrets = {
        "operator password": password, "wrong password": password + "!", "session": session,
        "csrf token": csrf, "api token": token, "admin token": admin_token,
        "resident token": resident["token"], "push auth": subscription["keys"]["auth"],
        "push key": subscription["keys"]["p256dh"], "push endpoint": endpoint.rsplit("/", 1)[1],
        "home lat": "18.12445", "home lon": "171.98865", "lat": "18.12345", "lon": "171.98765",
        **{f"vapid {i}": s for i, s in enumerate(_vapid_secrets(settings))},
    }  # fmt: skip
    ours = [r for r in caplog.records if r.filename != "web_log.py"]  # the push service's log
    assert not any("/api/" in r.getMessage() for r in caplog.records if r not in ours)
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args}" for r in ours)
    assert "POST /api/v1/subscribers 201" in logged  # the access log was captured
    assert [what for what, value in secrets.items() if value in logged] == []
    async with pool.acquire() as conn:
        audited = await conn.fetch("SELECT details::text AS d FROM audit_log")
    audit = "\n".join(json.loads(r["d"]).get("body", "") for r in audited)
    assert '"password": "***"' in audit  # the account was made, and audited without it
    assert [what for what, value in secrets.items() if value in audit] == []
