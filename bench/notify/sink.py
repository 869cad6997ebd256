"""A fast local push endpoint for the fan-out bench: answers 201, counts, checks a sample.

The bench measures the sender, so the endpoint must cost as little CPU as it can on the two
cores it shares with the senders, Postgres and the broker: a raw ``asyncio.Protocol`` speaking
just enough HTTP/1.1 (keep-alive, ``Content-Length`` bodies) costs a fraction of an aiohttp
handler. Every message is counted against its resident (endpoint ``/p/<n>``), so a message
sent twice is seen even though only a sample is decrypted. One message in ``sample_every`` is
checked the way a strict push service and a browser would, with the test push service's own
code (``tests/notify/push_service.py``, which shares nothing with ``notify``): the VAPID JWT's
ES256 signature and claims, the RFC 8030 headers, the ``aes128gcm`` decryption, and then the
payload (the alert id as ``tag``, the resident's language).

Control is plain HTTP too: ``GET /stats`` returns the counters as JSON, ``POST /reset`` with a
JSON body ``{"alert_id": ...}`` clears them and names the alert the sample must carry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, cast

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from multidict import CIMultiDict

from tests.notify.push_service import (
    Refused,
    _auth_params,
    _Browser,
    _check_claims,
    _decrypt,
    _push_headers,
    _verified_claims,
    b64d,
)

__all__ = ["SinkConfig", "language_tag_of", "run_sink"]

_CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
_PUSH_PREFIX = b"/p/"
_MAX_FAILURES_KEPT = 20
_TAGS = {"ja": "ja-JP", "en": "en-US", "ja-easy": "ja-JP-x-easy"}


def language_tag_of(language: str) -> str:
    """The BCP 47 tag a payload in ``language`` carries (the catalogue's tags)."""
    return _TAGS[language]


@dataclass(frozen=True)
class SinkConfig:
    """What the sink needs to know, picklable for a spawned process.

    Parameters
    ----------
    residents
        Endpoints run ``/p/0`` to ``/p/<residents - 1>``.
    browser_keys
        Private scalars and auth secrets of the browsers' key pairs; resident ``n`` uses
        ``browser_keys[n % len(browser_keys)]``.
    vapid_public
        The application server key (65-byte point) every VAPID header must carry as ``k``.
    languages
        Resident ``n`` reads ``languages[n % len(languages)]``.
    sample_every
        Decrypt and check one message in this many.
    """

    residents: int
    browser_keys: Sequence[tuple[int, bytes]]
    vapid_public: bytes
    languages: Sequence[str]
    sample_every: int = 100


@dataclass
class _Counts:
    hits: bytearray
    total: int = 0
    unknown: int = 0
    sampled: int = 0
    sample_failures: int = 0
    failures: list[str] = field(default_factory=list)
    first_at: float | None = None
    last_at: float | None = None
    alert_id: str | None = None


class _Head:
    """Just enough of ``web.Request`` for the push service's header checks."""

    def __init__(self, headers: CIMultiDict[str]) -> None:
        self.headers = headers


class Sink:
    """The counters and the per-message work; the protocol only frames requests."""

    def __init__(self, config: SinkConfig, origin: str) -> None:
        self._config = config
        self._origin = origin
        self._browsers = [
            _Browser(ec.derive_private_key(scalar, ec.SECP256R1()), auth, None)
            for scalar, auth in config.browser_keys
        ]
        self.counts = _Counts(bytearray(config.residents))

    def reset(self, alert_id: str | None) -> None:
        """Forget what was received; samples from now on must carry ``alert_id``."""
        self.counts = _Counts(bytearray(self._config.residents), alert_id=alert_id)

    def stats(self) -> dict[str, Any]:
        """The counters, with how many residents got a message once and more than once."""
        c = self.counts
        reached = len(c.hits) - c.hits.count(0)
        return {
            "total": c.total, "reached": reached, "duplicates": c.total - reached,
            "unknown": c.unknown, "sampled": c.sampled, "sample_failures": c.sample_failures,
            "failures": c.failures, "first_at": c.first_at, "last_at": c.last_at,
        }  # fmt: skip

    def push(self, path: bytes, head: bytes, body: bytes) -> bytes:
        """Count one push message (checking it if sampled); return the HTTP answer."""
        c = self.counts
        try:
            n = int(path[len(_PUSH_PREFIX) :])
            if c.hits[n] < 255:
                c.hits[n] += 1
        except (ValueError, IndexError):
            c.unknown += 1
            return answer(404, "no such subscription")
        now = time.monotonic()
        c.first_at = c.first_at or now
        c.last_at = now
        c.total += 1
        if c.total % self._config.sample_every:
            return _CREATED
        c.sampled += 1
        try:
            self._check(n, _headers(head), body)
        except Refused as exc:
            self._fail(f"{exc.status} {exc.reason}")
            return answer(exc.status, exc.reason)
        except (ValueError, KeyError, UnicodeDecodeError) as exc:  # a payload that is not ours
            self._fail(f"400 unreadable payload: {exc!r}"[:300])
            return answer(400, "unreadable payload")
        return _CREATED

    def _check(self, n: int, headers: CIMultiDict[str], body: bytes) -> None:
        params = _auth_params(headers.get("Authorization", ""))
        key = b64d(params["k"])
        if key != self._config.vapid_public:
            raise Refused(403, "VAPID key is not the application server key")
        claims = _verified_claims(params["t"], key)
        _check_claims(claims, self._origin, time.time())
        _push_headers(cast(web.Request, _Head(headers)))
        browser = self._browsers[n % len(self._browsers)]
        payload = json.loads(_decrypt(body, browser))
        if not isinstance(payload, dict):
            raise Refused(400, "the payload is not a JSON object")
        language = self._config.languages[n % len(self._config.languages)]
        if payload.get("language") != language_tag_of(language):
            raise Refused(400, f"resident {n} reads {language}, got {payload.get('language')}")
        if self.counts.alert_id is not None and payload.get("tag") != self.counts.alert_id:
            raise Refused(400, f"tag {payload.get('tag')!r} is not the alert id")

    def _fail(self, reason: str) -> None:
        self.counts.sample_failures += 1
        if len(self.counts.failures) < _MAX_FAILURES_KEPT:
            self.counts.failures.append(reason)


def answer(status: int, text: str, content_type: str = "text/plain") -> bytes:
    """An HTTP/1.1 response with a text body."""
    body = text.encode()
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _headers(head: bytes) -> CIMultiDict[str]:
    """Parse the header lines of a request head (only for the sampled messages)."""
    headers: CIMultiDict[str] = CIMultiDict()
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    return headers


def _content_length(head: bytes) -> int:
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = head.find(b"\r\n", at + 2)
    return int(head[at + 17 : end if end >= 0 else len(head)])


Route = Callable[[bytes, bytes], bytes]  # (request head, body) -> the whole response


class HttpFraming(asyncio.Protocol):
    """HTTP/1.1 framing for the sinks: request heads up to the blank line, then
    ``Content-Length`` bytes; each request's answer comes from ``route``, written in order."""

    def __init__(self, route: Route) -> None:
        self._route = route
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to answer on."""
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        """Answer every complete request in the buffer, in one write."""
        buffer = self._buffer
        buffer += data
        answers = []
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(buffer[:end])
            total = end + 4 + _content_length(head)
            if len(buffer) < total:
                break
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            answers.append(self._route(head, body))
        if answers and self._transport is not None:
            self._transport.write(b"".join(answers))


def request_line(head: bytes) -> tuple[bytes, bytes]:
    """Return the method and path of a request head."""
    method, _, rest = head.partition(b" ")
    return method, rest.partition(b" ")[0]


def _route_to(sink: Sink) -> Route:
    def route(head: bytes, body: bytes) -> bytes:
        method, path = request_line(head)
        if method == b"POST" and path.startswith(_PUSH_PREFIX):
            return sink.push(path, head, body)
        if method == b"GET" and path == b"/stats":
            return answer(200, json.dumps(sink.stats()), "application/json")
        if method == b"POST" and path == b"/reset":
            sink.reset(json.loads(body or b"{}").get("alert_id"))
            return answer(200, "{}", "application/json")
        return answer(404, "not found")

    return route


async def _serve(config: SinkConfig, ready: Callable[[int], None]) -> None:
    loop = asyncio.get_running_loop()
    holder: list[Sink] = []
    server = await loop.create_server(
        lambda: HttpFraming(_route_to(holder[0])), "127.0.0.1", 0, backlog=1024
    )
    port = server.sockets[0].getsockname()[1]
    holder.append(Sink(config, f"http://127.0.0.1:{port}"))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    ready(port)
    async with server:
        await stop.wait()


def run_sink(config: SinkConfig, report: Connection) -> None:
    """Process entry point: serve on a free loopback port, send the port down ``report``,
    serve until SIGTERM."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config, report.send))
    report.close()
