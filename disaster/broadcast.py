"""Fan-out of newly issued alerts to the open event streams of this web process.

Alerts are announced by Postgres ``NOTIFY alert_issued`` in the transaction that stores them, so
every web process sees every alert whichever process issued it. The listening connection is
opened again by itself when the database restarts.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from disaster import store
from disaster._streams import ListenedStreams

__all__ = ["AlertBroadcaster"]

_QUEUE_SIZE = 100


class AlertBroadcaster(ListenedStreams[dict[str, Any]]):
    """Listens for issued alerts and hands each to every subscribed queue."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, "alert_issued", _QUEUE_SIZE)
        self._tasks: set[asyncio.Task[None]] = set()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        task = asyncio.get_running_loop().create_task(self._announce(uuid.UUID(payload)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _announce(self, alert_id: uuid.UUID) -> None:
        async with self._pool.acquire() as conn:
            alert = await store.alert_by_id(conn, alert_id)
        if alert is not None:
            self._publish(alert.to_json_dict())
