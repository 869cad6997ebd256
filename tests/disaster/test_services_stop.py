"""A stopping service always ends: what it still holds is closed, not waited for forever."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import pytest

from disaster import services
from disaster.services import Running, running_services
from disaster.settings import Settings
from tests.support import wait_until


async def test_a_connection_never_given_back_does_not_hang_the_stop(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query stuck on a lock holds its connection: asyncpg's own close would wait for it
    without end, and a supervisor restarting the service would wait with it."""
    monkeypatch.setattr(services, "POOL_CLOSE_WAIT_S", 0.5)
    web_only = settings.model_copy(update={"group_prefix": f"stop-{uuid.uuid4().hex[:6]}"})

    async with contextlib.AsyncExitStack() as stack:  # stops the service if a step fails
        running = await stack.enter_async_context(running_services(web_only, "web"))
        # started: a stop during aiokafka's bootstrap leaks that socket (its bug, not this one)
        await wait_until(lambda: _epoch_known(running), timeout_s=30)
        held = await running.pool.acquire()  # never released
        assert await held.fetchval("SELECT 1") == 1
        await asyncio.wait_for(stack.aclose(), 10)  # the stop ends
    with pytest.raises(asyncpg.InterfaceError):  # having closed the connection under it
        await held.fetchval("SELECT 1")


async def _epoch_known(running: Running) -> bool:
    return running.watch is not None and running.watch.epoch is not None
