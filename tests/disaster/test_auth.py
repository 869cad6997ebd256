"""Operator credentials: scrypt hashes that verify only the right password, and a session
cookie that a browser sends over HTTPS only when the service is reached over HTTPS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest

from disaster import operator_store
from disaster.app import create_app
from disaster.auth import hash_password, verify_password
from disaster.services import Running
from disaster.settings import Settings
from tests.support import served

PASSWORD = "correct horse battery staple"


def test_a_hash_is_salted_scrypt_and_verifies_only_the_right_password() -> None:
    stored = hash_password(PASSWORD)
    scheme, n, r, p, _salt, _digest = stored.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", 2**15, 8, 1)  # memory-hard: 32 MiB
    assert PASSWORD not in stored
    assert hash_password(PASSWORD) != stored  # a salt of its own each time
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + " ", stored)
    assert not verify_password(PASSWORD, stored.replace("scrypt", "md5", 1))
    assert not verify_password(PASSWORD, "scrypt$not$a$hash")


def test_a_short_password_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="at least 12 characters"):
        hash_password("short")


@pytest.fixture
async def over_https(running: Running, settings: Settings) -> AsyncIterator[str]:
    """A second web app on the session's database, configured as reached over HTTPS (a
    reverse proxy ends TLS in front of it)."""
    app = create_app(settings.model_copy(update={"public_url": "https://hq.example.jp"}))
    async with served(app) as url:
        yield url


@pytest.mark.parametrize("https", [True, False])
async def test_the_session_cookie_is_secure_when_the_service_is_reached_over_https(
    running: Running, over_https: str, https: bool
) -> None:
    name = f"cookie-{uuid.uuid4().hex[:6]}"
    async with running.pool.acquire() as conn:
        await operator_store.add_operator(conn, name, PASSWORD, "viewer")
    base = over_https if https else str(running.base_url)
    async with aiohttp.ClientSession(base_url=base) as client:
        body = {"username": name, "password": PASSWORD}
        async with client.post("/api/v1/auth/login", json=body) as resp:
            assert resp.status == 200, await resp.text()
            [cookie] = resp.cookies.values()
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert bool(cookie["secure"]) is https
