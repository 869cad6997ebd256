"""Partner webhooks: CAP 1.2 of every alert, HMAC-signed, retried, registered by the CLI."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer

from disaster import store, topics
from disaster._kafka import encode_json
from disaster.domain import Alert, AlertLevel
from disaster.settings import Settings
from ingest.cap import parse_cap
from notify.webhook import sign, verify_signature
from tests.support import run_cli, square, wait_until


def test_a_signature_holds_only_for_the_same_body_secret_and_a_fresh_time() -> None:
    secret, body, now = b"k" * 32, b"<alert/>", 1_800_000_000
    good = sign(secret, now, body)
    assert verify_signature(secret, str(now), body, good, now=now + 10)
    assert not verify_signature(secret, str(now), body + b" ", good, now=now)
    assert not verify_signature(b"x" * 32, str(now), body, good, now=now)
    assert not verify_signature(secret, str(now), body, good, now=now + 3600)  # a replay
    assert not verify_signature(secret, "yesterday", body, good, now=now)


class Partner:
    """A partner's receiving endpoint: fails first if told to, then records what it gets."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.failures:
            self.failures -= 1
            return web.Response(status=503)
        self.received.append((dict(request.headers), body))
        return web.Response(status=204)


@pytest.fixture
async def partner() -> AsyncIterator[Partner]:
    found = Partner(failures=1)
    app = web.Application()
    app.router.add_post("/cap", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/cap"
    yield found
    await runner.cleanup()


async def test_a_partner_receives_each_alert_signed_even_after_failing_once(
    settings: Settings, partner: Partner, pool: asyncpg.Pool, producer: AIOKafkaProducer
) -> None:
    env = {**os.environ, "DISASTER_DATABASE_URL": settings.database_url or "",
           "DISASTER_PUSH_ALLOW_LOOPBACK": "true"}  # fmt: skip
    status, out, err = await run_cli("webhook", "add", partner.url, env=env)
    assert status == 0, err
    hook = json.loads(out)
    try:
        alert = Alert(id=uuid.uuid4(), level=AlertLevel.EMERGENCY, hazard="flood",
                      area_name="新川流域", area=square(170.0, 10.0),
                      headline={"ja": "緊急安全確保"}, issued_at=datetime.now(UTC))  # fmt: skip
        async with pool.acquire() as conn:
            await store.insert_alert(conn, alert)
        await producer.send_and_wait(
            topics.ALERTS, encode_json(alert.to_json_dict()), key=str(alert.id).encode()
        )

        async def ours() -> list[tuple[dict[str, str], bytes]]:
            return [(h, b) for h, b in partner.received
                    if h.get("X-Disaster-Alert-Id") == str(alert.id)]  # fmt: skip

        await wait_until(ours, timeout_s=60)
        (headers, body), *again = await ours()
        assert again == []
        assert verify_signature(
            bytes.fromhex(hook["secret"]), headers["X-Disaster-Timestamp"], body,
            headers["X-Disaster-Signature"],
        )  # fmt: skip
        [report] = parse_cap(body)
        assert report.id.endswith(f"urn:uuid:{alert.id}")
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT status, attempts FROM webhook_deliveries WHERE alert_id = $1", alert.id
            )
        assert (row["status"], row["attempts"]) == ("delivered", 2)
    finally:
        status, _, err = await run_cli("webhook", "remove", hook["id"], env=env)
        assert status == 0, err


async def test_the_cli_refuses_a_webhook_that_could_reach_inside(settings: Settings) -> None:
    env = {**os.environ, "DISASTER_DATABASE_URL": settings.database_url or ""}
    status, _, err = await run_cli("webhook", "add", "https://169.254.169.254/x", env=env)
    assert status == 1
    assert "link-local" in err
