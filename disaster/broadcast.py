"""Fan-out of newly issued alerts to the open event streams of this web process.

Alerts are announced by Postgres ``NOTIFY alert_issued`` in the transaction that stores them, so
every web process sees every alert whichever process issued it. The listening connection is
opened again by itself when the database restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import asyncpg

from disaster import store
from disaster._pg import ChannelListener

__all__ = ["AlertBroadcaster"]

_log = logging.getLogger(__name__)
_QUEUE_SIZE = 100


class AlertBroadcaster:
    """Listens for issued alerts and hands each to every subscribed queue."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._queues: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._listener = ChannelListener(pool, "alert_issued", self._on_notify)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the listening connection (opened again by itself after a database restart)."""
        await self._listener.start()

    def problem(self) -> str | None:
        """What is wrong, for ``/healthz``: None while the channel is listened on."""
        return None if self._listener.listening else "not listening: the database is away"

    def close_streams(self) -> None:
        """Tell every open stream to end (at shutdown, before connections are waited for)."""
        for queue in self._queues:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    async def stop(self) -> None:
        """Close every stream and release the connection."""
        self.close_streams()
        await self._listener.stop()

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        """Return a queue that receives each new alert as JSON (None means: stream closed)."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(_QUEUE_SIZE)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        """Stop delivering to ``queue``."""
        self._queues.discard(queue)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        task = asyncio.get_running_loop().create_task(self._publish(uuid.UUID(payload)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, alert_id: uuid.UUID) -> None:
        async with self._pool.acquire() as conn:
            alert = await store.alert_by_id(conn, alert_id)
        if alert is None:
            return
        body = alert.to_json_dict()
        for queue in list(self._queues):
            try:
                queue.put_nowait(body)
            except asyncio.QueueFull:
                _log.warning(
                    "an event-stream client fell %d alerts behind; closing it", _QUEUE_SIZE
                )
                self._queues.discard(queue)
