"""Server-sent event streams over real HTTP: events as the browser reads them, and a client that
goes away ends its stream quietly (every stream ends that way: it is no error)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from disaster import _streams
from tests.support import served


class _Streams:
    """The part of :class:`ListenedStreams` a stream uses, with its queues in view."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue] = set()
        self.ended = asyncio.Event()  # a stream's handler has returned (or raised)

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(8)
        self.queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.queues.discard(queue)


@pytest.fixture
async def stream_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[_Streams, str]]:
    monkeypatch.setattr(_streams, "HEARTBEAT_S", 0.05)
    streams = _Streams()

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await _streams.serve_events(
                request,
                streams,  # type: ignore[arg-type]
                lambda n: (n, "tick", {"n": n}),
            )
        finally:  # the server logs what the handler raised in this same step
            streams.ended.set()

    app = web.Application()
    app.router.add_get("/stream", handler)
    async with served(app) as url:
        yield streams, f"{url}/stream"


async def test_events_arrive_as_a_browser_reads_them(stream_server: tuple[_Streams, str]) -> None:
    streams, url = stream_server
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert await resp.content.readline() == b"retry: 2000\n"
        assert await resp.content.readline() == b": connected\n"
        [queue] = streams.queues
        queue.put_nowait(7)
        lines = []
        while (line := await asyncio.wait_for(resp.content.readline(), 5)) != b"\n" or not lines:
            if line.strip() and not line.startswith(b":"):
                lines.append(line)
    assert lines == [b"id: 7\n", b"event: tick\n", b'data: {"n": 7}\n']


async def test_a_client_that_goes_away_ends_its_stream_without_an_error(
    stream_server: tuple[_Streams, str], caplog: pytest.LogCaptureFixture
) -> None:
    streams, url = stream_server
    caplog.set_level(logging.ERROR)
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert await resp.content.readline() == b"retry: 2000\n"
        assert streams.queues
    # The next heartbeat finds the connection closed: the stream unsubscribes and ends.
    await asyncio.wait_for(streams.ended.wait(), 10)
    assert not streams.queues
    # the server's and the stream's own loggers: another test's leftovers may log elsewhere
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r for r in errors if r.name.split(".")[0] in ("aiohttp", "disaster")] == []
