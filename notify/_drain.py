"""The loop an outbox worker runs: work while there is work, then sleep until Postgres says
there is more (``NOTIFY``) or the idle wait ends (retries come due without a notification)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from disaster._pg import DATABASE_DOWN, ChannelListener

__all__ = ["drain_forever"]

_log = logging.getLogger(__name__)
_MAX_BACKOFF_S = 5.0


async def drain_forever(
    pool: asyncpg.Pool, channel: str, step: Callable[[], Awaitable[int]], idle_wait_s: float
) -> None:
    """Call ``step`` (which returns how much it did) until cancelled, idling when it did none.

    While the database is away (a restart, a failover) a failing step is retried with a capped
    backoff, and the channel is listened on again once it is back.
    """
    due = asyncio.Event()

    def wake(*_: object) -> None:
        due.set()

    listener = ChannelListener(pool, channel, wake, on_relisten=due.set)
    await _start_listening(listener)
    failures = 0
    try:
        while True:
            try:
                did = await step()
            except DATABASE_DOWN as exc:
                failures += 1
                _log.warning("%s worker: the database failed (%r); retrying", channel, exc)
                await asyncio.sleep(min(0.1 * 2**failures, _MAX_BACKOFF_S))
                continue
            failures = 0
            if not did:
                due.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(idle_wait_s):
                        await due.wait()
    finally:
        await listener.stop()


async def _start_listening(listener: ChannelListener) -> None:
    for attempt in itertools.count(1):
        try:
            await listener.start()
        except DATABASE_DOWN:
            await asyncio.sleep(min(0.1 * 2**attempt, _MAX_BACKOFF_S))
        else:
            return
