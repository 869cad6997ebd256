"""The loop an outbox worker runs: work while there is work, then sleep until Postgres says
there is more (``NOTIFY``) or the idle wait ends (retries come due without a notification)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg

__all__ = ["drain_forever"]


async def drain_forever(
    pool: asyncpg.Pool, channel: str, step: Callable[[], Awaitable[int]], idle_wait_s: float
) -> None:
    """Call ``step`` (which returns how much it did) until cancelled, idling when it did none."""
    due = asyncio.Event()

    def wake(*_: object) -> None:
        due.set()

    async with pool.acquire() as listener:
        await listener.add_listener(channel, wake)
        try:
            while True:
                if not await step():
                    due.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(due.wait(), idle_wait_s)
        finally:
            await listener.remove_listener(channel, wake)
