"""Fan-out of dashboard changes to the open dashboard streams of this web process.

Every change is announced by Postgres on the ``dashboard`` channel when its transaction commits
(triggers of migration 0013), so each web process sees every change whichever process made it.
Notifications arriving close together are coalesced per entity for ``FLUSH_DELAY_S`` and each
entity is then read once: a burst of a thousand deliveries becomes one progress event, and an
event always carries the entity's state as of after its cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import asyncpg

from disaster import dashboard_store
from disaster._pg import ChannelListener

__all__ = ["FLUSH_DELAY_S", "DashboardEvent", "DashboardFeed"]

_log = logging.getLogger(__name__)
_CHANNEL = "dashboard"
_QUEUE_SIZE = 1000
FLUSH_DELAY_S = 0.1
DashboardEvent = tuple[int, str, dict[str, Any]]  # sequence number, type, data


class DashboardFeed:
    """Listens on the ``dashboard`` channel and hands each changed entity to every queue."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._queues: set[asyncio.Queue[DashboardEvent | None]] = set()
        self._listener = ChannelListener(pool, _CHANNEL, self._on_notify)
        self._pending: dict[tuple[str, str], None] = {}  # insertion-ordered set
        self._flushing: asyncio.Task[None] | None = None
        self._sequence = 0

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
        """Close every stream, finish the last flush and release the connection."""
        self.close_streams()
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
        await self._listener.stop()

    def subscribe(self) -> asyncio.Queue[DashboardEvent | None]:
        """Return a queue of ``(sequence, type, data)`` events (None means: stream closed)."""
        queue: asyncio.Queue[DashboardEvent | None] = asyncio.Queue(_QUEUE_SIZE)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[DashboardEvent | None]) -> None:
        """Stop delivering to ``queue``."""
        self._queues.discard(queue)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            note = json.loads(payload)
            self._pending[(str(note["type"]), str(note["key"]))] = None
        except (ValueError, KeyError, TypeError):
            _log.warning("ignoring a malformed dashboard notification %r", payload[:200])
            return
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(FLUSH_DELAY_S)
        while self._pending:
            batch, self._pending = list(self._pending), {}
            if not self._queues:
                continue
            try:
                async with self._pool.acquire() as conn:
                    events = [(kind, await dashboard_store.event_body(conn, kind, key))
                              for kind, key in batch]  # fmt: skip
            except (OSError, ValueError, asyncpg.PostgresError):
                _log.exception("could not read %d dashboard changes; streams miss them", len(batch))
                continue
            for kind, body in events:
                if body is not None:
                    self._publish(kind, body)

    def _publish(self, kind: str, body: dict[str, Any]) -> None:
        self._sequence += 1
        event = (self._sequence, kind, body)
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                _log.warning("a dashboard stream fell %d events behind; closing it", _QUEUE_SIZE)
                self._queues.discard(queue)
                while not queue.empty():  # make room to tell the stream to end
                    queue.get_nowait()
                queue.put_nowait(None)
