"""The soak's push endpoint: decrypts every message to learn its alert, and times its arrival.

Like ``bench.notify.sink`` (a raw ``asyncio.Protocol`` speaking just enough HTTP/1.1), but a
soak sends many alerts to overlapping residents, so every message is decrypted (RFC 8291, with
the test push service's code) to read its ``alert_id``, and kept as (alert, resident, arrival
wall-clock time). ``GET /stats`` returns the counters, ``GET /dump`` every arrival grouped by
alert: ``{alert_id: [[resident, unix time], ...]}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection

from cryptography.hazmat.primitives.asymmetric import ec

from bench.notify.sink import HttpFraming, Route, answer, request_line
from tests.notify.push_service import Refused, _Browser, _decrypt

__all__ = ["run_sink"]

_CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
_PUSH_PREFIX = b"/p/"


class SoakSink:
    """Arrivals per alert, and what could not be read."""

    def __init__(self, browser_keys: Sequence[tuple[int, bytes]]) -> None:
        self._browsers = [
            _Browser(ec.derive_private_key(scalar, ec.SECP256R1()), auth, None)
            for scalar, auth in browser_keys
        ]
        self.arrivals: dict[str, list[tuple[int, float]]] = {}
        self.seen: set[tuple[str, int]] = set()
        self.total = 0
        self.duplicates = 0
        self.unreadable = 0

    def push(self, path: bytes, body: bytes) -> bytes:
        """Record one push message; answer 201, or 400 for one that cannot be read."""
        now = time.time()
        try:
            n = int(path[len(_PUSH_PREFIX) :])
            browser = self._browsers[n % len(self._browsers)]
            alert_id = str(json.loads(_decrypt(body, browser))["alert_id"])
        except (ValueError, KeyError, TypeError, Refused):
            self.unreadable += 1
            return answer(400, "unreadable")
        self.total += 1
        if (alert_id, n) in self.seen:
            self.duplicates += 1
        self.seen.add((alert_id, n))
        self.arrivals.setdefault(alert_id, []).append((n, now))
        return _CREATED

    def stats(self) -> dict[str, int]:
        """Messages received, duplicates (same alert, same resident), unreadable, alerts."""
        return {
            "total": self.total, "duplicates": self.duplicates, "unreadable": self.unreadable,
            "alerts": len(self.arrivals),
        }  # fmt: skip


def _route_to(sink: SoakSink) -> Route:
    def route(head: bytes, body: bytes) -> bytes:
        method, path = request_line(head)
        if method == b"POST" and path.startswith(_PUSH_PREFIX):
            return sink.push(path, body)
        if method == b"GET" and path == b"/stats":
            return answer(200, json.dumps(sink.stats()), "application/json")
        if method == b"GET" and path == b"/dump":
            return answer(200, json.dumps(sink.arrivals), "application/json")
        return answer(404, "not found")

    return route


async def _serve(browser_keys: Sequence[tuple[int, bytes]], ready: Callable[[int], None]) -> None:
    loop = asyncio.get_running_loop()
    sink = SoakSink(browser_keys)
    server = await loop.create_server(
        lambda: HttpFraming(_route_to(sink)), "127.0.0.1", 0, backlog=1024
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    ready(server.sockets[0].getsockname()[1])
    async with server:
        await stop.wait()


def run_sink(browser_keys: Sequence[tuple[int, bytes]], report: Connection) -> None:
    """Process entry point: serve on a free loopback port, send the port down ``report``,
    serve until SIGTERM."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(browser_keys, report.send))
    report.close()
