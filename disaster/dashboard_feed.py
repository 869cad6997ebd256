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
from disaster._streams import ListenedStreams

__all__ = ["FLUSH_DELAY_S", "DashboardEvent", "DashboardFeed"]

_log = logging.getLogger(__name__)
_CHANNEL = "dashboard"
_QUEUE_SIZE = 1000
FLUSH_DELAY_S = 0.1
DashboardEvent = tuple[int, str, dict[str, Any]]  # sequence number, type, data


class DashboardFeed(ListenedStreams[DashboardEvent]):
    """Listens on the ``dashboard`` channel and hands each changed entity to every queue."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, _CHANNEL, _QUEUE_SIZE)
        self._pending: dict[tuple[str, str], None] = {}  # insertion-ordered set
        self._flushing: asyncio.Task[None] | None = None
        self._sequence = 0

    async def stop(self) -> None:
        """Close every stream, finish the last flush and release the connection."""
        self.close_streams()
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
        await super().stop()

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
                    self._publish_change(kind, body)

    def _publish_change(self, kind: str, body: dict[str, Any]) -> None:
        self._sequence += 1
        self._publish((self._sequence, kind, body))
