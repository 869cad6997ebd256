"""Webhook delivery to partner systems: every alert as CAP 1.2, signed, retried, bounded.

A request carries ``X-Disaster-Timestamp`` (Unix seconds) and ``X-Disaster-Signature:
sha256=<hex>``, the HMAC-SHA256 with the partner's secret of ``<timestamp>.`` followed by the
body; the timestamp lets the partner refuse replays (:func:`verify_signature` is what a partner
runs). Endpoints pass the same SSRF guard as push endpoints; each request is bounded in time,
and at most 64 KiB of an answer is read.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg

from disaster import store, webhook_store
from disaster.cap_api import cap_document, earlier_versions
from disaster.settings import Settings
from disaster.webhook_store import WebhookJob
from notify._drain import drain_forever
from notify.delivery import backoff_s
from notify.messages import Catalogue
from notify.ssrf import EndpointPolicy, UnsafeURLError, check_url

__all__ = ["WebhookWorker", "sign", "verify_signature"]

_log = logging.getLogger(__name__)
_MAX_ANSWER_BYTES = 64 * 1024
_MAX_ATTEMPTS = 10


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """Return the ``X-Disaster-Signature`` value for a body sent at ``timestamp``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify_signature(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance_s: float = 300.0,
) -> bool:
    """Return whether a request is authentic and fresh (within ``tolerance_s``)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


class WebhookWorker:
    """Claims partner deliveries and posts them; one per notify process is plenty."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        session: aiohttp.ClientSession,
        policy: EndpointPolicy,
        settings: Settings,
        catalogue: Catalogue,
        *,
        timeout_s: float = 10.0,
        lease_s: float = 60.0,
        idle_wait_s: float = 1.0,
    ) -> None:
        self._pool = pool
        self._session = session
        self._policy = policy
        self._settings = settings
        self._catalogue = catalogue
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._lease_s = lease_s
        self._idle_wait_s = idle_wait_s

    async def run(self) -> None:
        """Deliver until cancelled; woken by new deliveries, else polling for retries."""
        await drain_forever(self._pool, "webhooks_due", self.deliver_once, self._idle_wait_s)

    async def deliver_once(self, limit: int = 50) -> int:
        """Claim and post one batch; return how many were claimed."""
        async with self._pool.acquire() as conn:
            jobs = await webhook_store.claim_due(conn, limit, self._lease_s)
        await asyncio.gather(*(self._deliver(job) for job in jobs))
        return len(jobs)

    async def _deliver(self, job: WebhookJob) -> None:
        async with self._pool.acquire() as conn:
            alert = await store.alert_by_id(conn, job.alert_id)
            earlier = await earlier_versions(conn, alert) if alert else []
        if alert is None:
            await self._settle(job, "failed", error="the alert is gone")
            return
        body = cap_document(alert, self._settings, self._catalogue, earlier)
        stamp = int(time.time())
        headers = {"Content-Type": "application/cap+xml; charset=utf-8",
                   "X-Disaster-Timestamp": str(stamp), "X-Disaster-Alert-Id": str(alert.id),
                   "X-Disaster-Signature": sign(job.webhook.secret, stamp, body)}  # fmt: skip
        try:
            check_url(job.webhook.url, self._policy)
            async with self._session.post(
                job.webhook.url, data=body, headers=headers, timeout=self._timeout,
                allow_redirects=False,
            ) as resp:  # fmt: skip
                await resp.content.read(_MAX_ANSWER_BYTES)
                status = resp.status
        except UnsafeURLError as exc:
            await self._settle(job, "failed", error=exc.reason)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self._retry(job, f"{type(exc).__name__}: {exc}"[:500])
            return
        if 200 <= status < 300:
            await self._settle(job, "delivered")
        elif 400 <= status < 500 and status not in (408, 429):
            await self._settle(job, "failed", error=f"the partner answered {status}")
        else:
            await self._retry(job, f"the partner answered {status}")

    async def _retry(self, job: WebhookJob, error: str) -> None:
        if job.attempts >= _MAX_ATTEMPTS:
            await self._settle(job, "failed", error=error)
            return
        wait = timedelta(seconds=backoff_s(job.attempts))
        await self._settle(job, "pending", next_at=datetime.now(UTC) + wait, error=error)

    async def _settle(
        self, job: WebhookJob, status: str, *, next_at: datetime | None = None,
        error: str | None = None,
    ) -> None:  # fmt: skip
        if error:
            _log.warning("webhook %s, alert %s: %s", job.webhook.id, job.alert_id, error)
        async with self._pool.acquire() as conn:
            await webhook_store.settle(conn, job, status, next_attempt_at=next_at, error=error)
