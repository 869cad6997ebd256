"""Event streams fed by a Postgres channel: the shared part of the alert stream and the
dashboard stream.

Each web process listens on the channel (opened again by itself after a database restart) and
hands what it learns to a bounded queue per open stream. A stream that falls a whole queue
behind is told to end rather than silently skipping: its client reconnects and reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import asyncpg
from aiohttp import web

from disaster._pg import ChannelListener

__all__ = ["ListenedStreams", "serve_events"]

_log = logging.getLogger(__name__)
T = TypeVar("T")

HEARTBEAT_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
RETRY_MS = 2000  # how soon a browser reconnects a dropped stream


class ListenedStreams(Generic[T]):
    """Queues of the open streams and the channel listener; subclasses turn notifications
    into items (``_on_notify``) and hand them on with :meth:`_publish`."""

    def __init__(self, pool: asyncpg.Pool, channel: str, queue_size: int) -> None:
        self._pool = pool
        self._queue_size = queue_size
        self._queues: set[asyncio.Queue[T | None]] = set()
        self._listener = ChannelListener(pool, channel, self._on_notify)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        raise NotImplementedError

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

    def subscribe(self) -> asyncio.Queue[T | None]:
        """Return a queue that receives each item (None means: the stream is closed)."""
        queue: asyncio.Queue[T | None] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[T | None]) -> None:
        """Stop delivering to ``queue``."""
        self._queues.discard(queue)

    def _publish(self, item: T) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                _log.warning("a stream fell %d items behind; closing it", self._queue_size)
                self._queues.discard(queue)
                while not queue.empty():  # make room to tell the stream to end
                    queue.get_nowait()
                queue.put_nowait(None)


async def serve_events(
    request: web.Request,
    streams: ListenedStreams[T],
    event_of: Callable[[T], tuple[str, str, Any]],
) -> web.StreamResponse:
    """Answer ``request`` with a server-sent event stream of ``streams``' items, each made
    into (id, event name, JSON body) by ``event_of``, until the service closes it or the
    client goes away (which is how every stream ends, so it is not an error)."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
                 "X-Accel-Buffering": "no"}
    )  # fmt: skip
    await response.prepare(request)
    queue = streams.subscribe()
    try:
        await response.write(f"retry: {RETRY_MS}\n: connected\n\n".encode())
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    item = await queue.get()
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            if item is None:
                break
            event_id, name, body = event_of(item)
            data = json.dumps(body, ensure_ascii=False)
            await response.write(f"id: {event_id}\nevent: {name}\ndata: {data}\n\n".encode())
    except ConnectionResetError:
        pass  # the client went away; a browser reconnects by itself if it still wants the stream
    finally:
        streams.unsubscribe(queue)
    return response
