"""What the delivery worker's tests share: a Web Push sender reaching the local push service,
a composer tagging each message with its alert, an alert queued for seeded residents, and the
alert's push rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from disaster import outbox_store, store
from disaster.domain import Alert, AlertLevel
from notify.delivery import Recipient
from notify.ssrf import EndpointPolicy
from notify.vapid import VapidSigner, load_or_create_vapid_key
from notify.webpush import SenderLimits, WebPushSender, new_push_session
from tests.notify.push_service import PushService
from tests.support import seed_push_residents, square


@asynccontextmanager
async def push_sender(
    key_dir: Path, limits: SenderLimits | None = None
) -> AsyncIterator[WebPushSender]:
    """A real Web Push sender (VAPID key in ``key_dir``) allowed to reach the loopback push
    service of the tests."""
    policy, limits = EndpointPolicy(allow_insecure_loopback=True), limits or SenderLimits()
    signer = VapidSigner(load_or_create_vapid_key(key_dir / "vapid.pem"), subject="mailto:t@x.jp")
    async with new_push_session(policy, limits) as session:
        yield WebPushSender(session, signer, policy=policy, limits=limits)


class TagComposer:
    """The alert's id as its tag: what the phone uses to show an alert once."""

    async def prepare(self, alerts: list[Alert]) -> None:
        return None

    def compose(self, alert: Alert, recipient: Recipient, prepared: object) -> bytes:
        return json.dumps({"tag": str(alert.id)}).encode()


async def queued_alert(
    pool: asyncpg.Pool, push: PushService, residents: int
) -> tuple[Alert, list[str]]:
    """Register ``residents`` residents with the push service and queue an alert's push rows
    for all of them; return the alert and their endpoints."""
    homes = [(35.001 + i % 10 * 1e-4, 139.001 + i // 10 * 1e-4) for i in range(residents)]
    endpoints = await seed_push_residents(pool, push, homes)
    alert = Alert(id=uuid.uuid4(), level=AlertLevel.EVACUATE, hazard="flood",
                  area_name="東地区", area=square(139.0, 35.0, 0.02), headline={"ja": "避難指示"},
                  issued_at=datetime.now(UTC))  # fmt: skip
    async with pool.acquire() as conn:
        await store.insert_alert(conn, alert)
        channels = await conn.fetch("SELECT subscriber_id, id FROM push_channels")
        async with conn.transaction():
            await outbox_store.enqueue(conn, alert.id, 4, [], [(s, c) for s, c in channels])
    return alert, endpoints


async def push_rows(pool: asyncpg.Pool, alert_id: uuid.UUID) -> list[asyncpg.Record]:
    """The alert's push deliveries: status, attempts, lease token and subscriber."""
    async with pool.acquire() as conn:
        return await conn.fetch(
            """SELECT status, attempts, lease_token, subscriber_id FROM deliveries
               WHERE alert_id = $1 AND channel <> 'inbox'""",
            alert_id,
        )
