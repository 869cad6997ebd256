"""Access control over real HTTP: every route declared, roles enforced, logins throttled,
sessions with CSRF, the audit log, and rate limits on public writes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

import aiohttp
import pytest

from disaster.access import ACCESS, RateLimiter
from disaster.app import create_app
from disaster.settings import Settings

SHELTER = {"name": "第一小学校", "location": {"lat": 35.7, "lon": 139.7}, "kind": "both",
           "source": "test", "capacity": 300, "open": True, "hazards": ["flood"]}  # fmt: skip


def test_every_route_of_the_app_declares_who_may_call_it(settings: Settings) -> None:
    app = create_app(settings)
    routes = {
        (r.method, r.resource.canonical)
        for r in app.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }
    assert routes - ACCESS.keys() == set()


async def _operator(http: aiohttp.ClientSession, role: str) -> tuple[str, str]:
    """Create an account with ``role`` as the admin; return (username, password)."""
    name, password = f"{role}-{uuid.uuid4().hex[:6]}", "a long enough passphrase"
    body = {"username": name, "password": password, "role": role}
    async with http.post("/api/v1/operators", json=body) as resp:
        assert resp.status == 201, await resp.text()
    return name, password


def _browser(base: str) -> aiohttp.ClientSession:
    """A client keeping cookies as a browser does (also for an IP address host)."""
    return aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _token(base: str, name: str, password: str) -> str:
    async with _browser(base) as browser:
        async with browser.post("/api/v1/auth/login",
                                json={"username": name, "password": password}) as resp:  # fmt: skip
            csrf = (await resp.json())["csrf_token"]
        async with browser.post("/api/v1/auth/tokens", json={"name": "script"},
                                headers={"X-CSRF-Token": csrf}) as resp:  # fmt: skip
            assert resp.status == 201
            return (await resp.json())["token"]


async def test_roles_decide_who_may_look_and_who_may_act(
    http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
) -> None:
    shelter = f"/api/v1/shelters/acl-{uuid.uuid4().hex[:6]}"
    async with anonymous.get("/api/v1/stations") as resp:
        assert resp.status == 401
    async with anonymous.put(shelter, json=SHELTER) as resp:
        assert resp.status == 401
    async with anonymous.get("/api/v1/alerts") as resp:  # public warnings stay public
        assert resp.status == 200

    base = str(http._base_url)
    viewer = await _token(base, *await _operator(http, "viewer"))
    operator = await _token(base, *await _operator(http, "operator"))
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    async with anonymous.get("/api/v1/stations", headers=as_viewer) as resp:
        assert resp.status == 200
    async with anonymous.put(shelter, json=SHELTER, headers=as_viewer) as resp:
        assert resp.status == 403
        assert "operator role" in (await resp.json())["reason"]
    async with anonymous.put(shelter, json=SHELTER,
                             headers={"Authorization": f"Bearer {operator}"}) as resp:  # fmt: skip
        assert resp.status in (200, 201)
    promote = {"username": "x", "password": "y" * 12, "role": "admin"}
    as_operator = {"Authorization": f"Bearer {operator}"}
    async with anonymous.post("/api/v1/operators", headers=as_operator, json=promote) as resp:
        assert resp.status == 403

    async with http.get("/api/v1/audit", params={"limit": "50"}) as resp:
        entries = await resp.json()
    assert any(e["action"] == "PUT /api/v1/shelters/{id}" and e["target"] == shelter
               and e["actor"].startswith("operator-") and '"capacity": 300' in e["details"]["body"]
               for e in entries)  # fmt: skip


async def test_a_session_needs_its_csrf_token_to_change_anything(
    http: aiohttp.ClientSession,
) -> None:
    name, password = await _operator(http, "operator")
    shelter = f"/api/v1/shelters/csrf-{uuid.uuid4().hex[:6]}"
    async with _browser(str(http._base_url)) as browser:
        async with browser.post("/api/v1/auth/login",
                                json={"username": name, "password": password}) as resp:  # fmt: skip
            assert resp.status == 200
            csrf = (await resp.json())["csrf_token"]
            cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        async with browser.get("/api/v1/auth/me") as resp:
            assert (await resp.json())["username"] == name
        async with browser.put(shelter, json=SHELTER) as resp:
            assert resp.status == 403
        async with browser.put(shelter, json=SHELTER, headers={"X-CSRF-Token": csrf}) as resp:
            assert resp.status in (200, 201)
        async with browser.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}) as resp:
            assert resp.status == 204
        async with browser.get("/api/v1/auth/me") as resp:
            assert resp.status == 401


async def test_failed_logins_are_throttled_even_for_the_right_password(
    http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
) -> None:
    name, password = await _operator(http, "viewer")
    for _ in range(5):
        guess = {"username": name, "password": "guess " * 3}
        async with anonymous.post("/api/v1/auth/login", json=guess) as resp:
            assert resp.status == 401
    async with anonymous.post("/api/v1/auth/login",
                              json={"username": name, "password": password}) as resp:  # fmt: skip
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) > 0


@pytest.mark.parametrize("per_minute", [3, 30])
def test_the_rate_limiter_allows_a_burst_then_the_rate(per_minute: int) -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    route = ("POST", "/api/v1/incidents")
    waits = [limiter.retry_after(route, "198.51.100.7", per_minute) for _ in range(per_minute)]
    assert waits == [0.0] * per_minute
    wait = limiter.retry_after(route, "198.51.100.7", per_minute)
    assert wait == pytest.approx(60 / per_minute)
    assert limiter.retry_after(route, "203.0.113.9", per_minute) == 0.0  # another address
    now[0] += wait
    assert limiter.retry_after(route, "198.51.100.7", per_minute) == 0.0


async def test_the_first_admin_comes_from_the_command_line(
    settings: Settings, anonymous: aiohttp.ClientSession
) -> None:
    name = f"first-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "DISASTER_DATABASE_URL": settings.database_url or ""}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "disaster", "operator", "add", name, "--role", "admin", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(b"a long enough passphrase\n"), 60)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["role"] == "admin"
    login = {"username": name, "password": "a long enough passphrase"}
    async with anonymous.post("/api/v1/auth/login", json=login) as resp:
        assert (await resp.json())["role"] == "admin"
