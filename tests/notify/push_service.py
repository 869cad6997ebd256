"""A real Web Push service on 127.0.0.1, strict the way FCM and autopush are.

It hands out subscriptions the way a browser does (its own P-256 key pair and auth secret per
subscription), and for every POST verifies the VAPID header (ES256 signature with the ``k`` key,
``aud`` equal to its origin, ``exp`` in the future and at most 24 h ahead, a ``mailto:``/``https:``
``sub``), checks the RFC 8030 headers, decrypts the ``aes128gcm`` body with ``http_ece`` as a
browser would, and records the plaintext. The verification uses ``cryptography`` directly and
shares no code with ``notify``, so a bug there cannot hide itself here.

Tests can make an endpoint answer a status (410, 500, 429 with ``Retry-After``) or hang.

A fan-out of tens of thousands costs the test process as much CPU as the notifier under test
(an ECDH per message), so ``decrypt_one_in=N`` decrypts the messages of one subscription in N
and checks the others' ``aes128gcm`` header (a push service cannot decrypt either: it counts
and forwards). The verification of every VAPID header stays.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_BODY_BYTES = 4096
MAX_EXP_AHEAD_S = 24 * 3600
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_URGENCIES = frozenset(("very-low", "low", "normal", "high"))


def b64d(text: str) -> bytes:
    """Strict unpadded base64url, as RFC 8292 and RFC 7515 use it."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        msg = "not base64url"
        raise ValueError(msg)
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Refused(Exception):  # noqa: N818 - it is an HTTP answer, not an error of the service
    """An HTTP error answer with its status and reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Received:
    """One message as the browser would see it (``plaintext`` None when not sampled)."""

    plaintext: bytes | None
    ttl_s: int
    urgency: str
    topic: str | None
    claims: dict[str, object]


@dataclass
class _Browser:
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    application_server_key: bytes | None
    sampled: bool = True
    received: list[Received] = field(default_factory=list)
    answer: tuple[int, dict[str, str], str] | None = None
    hang: bool = False


def _auth_params(header: str) -> dict[str, str]:
    """``vapid t=..., k=...`` → {"t": ..., "k": ...}; RFC 7235 allows spaces around commas."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "vapid":
        raise Refused(401, f"Authorization scheme {scheme!r} is not vapid")
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise Refused(401, f"malformed auth-param {part!r}")
        params[name.strip().lower()] = value.strip()
    if "t" not in params or "k" not in params:
        raise Refused(401, "vapid needs both t and k")
    return params


def _verified_claims(token: str, key_bytes: bytes) -> dict[str, object]:
    """The JWT claims once the ES256 signature checks out with ``key_bytes`` (RFC 7515/7518)."""
    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        head = json.loads(b64d(head_b64))
        claims = json.loads(b64d(claims_b64))
        sig = b64d(sig_b64)
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_bytes)
    except ValueError as exc:
        raise Refused(401, f"malformed token or key: {exc}") from None
    if head.get("alg") != "ES256" or len(sig) != 64:
        raise Refused(401, "token is not ES256")
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused(401, "bad VAPID signature") from None
    if not isinstance(claims, dict):
        raise Refused(401, "claims are not an object")
    return claims


def _check_claims(claims: dict[str, object], origin: str, now: float) -> None:
    exp, sub = claims.get("exp"), claims.get("sub")
    if claims.get("aud") != origin:
        raise Refused(401, f"aud {claims.get('aud')!r} is not {origin!r}")
    if not isinstance(exp, int) or exp <= now:
        raise Refused(401, "token expired")
    if exp > now + MAX_EXP_AHEAD_S:
        raise Refused(401, "exp more than 24 h ahead")
    if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
        raise Refused(401, "sub is not a mailto: or https: contact")


def _push_headers(request: web.Request) -> tuple[int, str, str | None]:
    ttl = request.headers.get("TTL", "")
    if not ttl.isdigit():
        raise Refused(400, "TTL header missing or not a number")
    if request.headers.get("Content-Encoding") != "aes128gcm":
        raise Refused(415, "Content-Encoding must be aes128gcm")
    urgency = request.headers.get("Urgency", "normal")
    if urgency not in _URGENCIES:
        raise Refused(400, f"bad Urgency {urgency!r}")
    topic = request.headers.get("Topic")
    if topic is not None and not _TOPIC.match(topic):
        raise Refused(400, "bad Topic")
    return int(ttl), urgency, topic


def _check_header(body: bytes) -> None:
    """RFC 8188 §2.1 as RFC 8291 §4 narrows it: salt, record size, a 65-byte P-256 keyid, and
    at least one record's AEAD tag after it."""
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    if len(body) < 21 or body[20] != 65:
        raise Refused(400, "aes128gcm header must carry a 65-byte P-256 keyid")
    if body[21] != 0x04:
        raise Refused(400, "keyid is not an uncompressed P-256 point")
    if int.from_bytes(body[16:20], "big") < 18 or len(body) < 86 + 17:
        raise Refused(400, "record size or body too small for one aes128gcm record")


def _decrypt(body: bytes, browser: _Browser) -> bytes:
    """The browser's side of RFC 8291: one record, sender key in the keyid."""
    _check_header(body)
    try:
        return http_ece.decrypt(
            body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
        )
    except http_ece.ECEException as exc:
        raise Refused(400, f"cannot decrypt: {exc.message}") from None


class PushService:
    """The service; ``start`` it, ``subscribe`` browsers, ``close`` it.

    ``clock`` is the service's idea of now, in seconds since the epoch.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, decrypt_one_in: int = 1) -> None:
        self._clock = clock
        self._decrypt_one_in = decrypt_one_in
        self._browsers: dict[str, _Browser] = {}
        self._changed = asyncio.Condition()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.origin = ""
        self.in_flight = 0
        self.max_in_flight = 0
        self.reached = 0  # subscriptions that received at least one message (kept as it
        # happens: a predicate counting over tens of thousands of endpoints per message is
        # quadratic)
        self.hanging = 0
        self.refused: list[tuple[int, str]] = []
        self.answered: list[tuple[str, int]] = []  # (subscription token, status) told to answer
        self._verified: dict[tuple[str, bytes], dict[str, object]] = {}  # signature checked

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application()
        app.router.add_post("/push/{token}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.origin = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def close(self) -> None:
        """Let hanging requests go and stop listening."""
        self._release.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def subscribe(self, *, application_server_key: str | None = None) -> dict[str, object]:
        """A new browser subscription, as ``PushSubscription.toJSON()`` gives it."""
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        token = secrets.token_urlsafe(16)
        restrict = b64d(application_server_key) if application_server_key else None
        sampled = len(self._browsers) % self._decrypt_one_in == 0
        self._browsers[token] = _Browser(key, auth, restrict, sampled)
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.origin}/push/{token}",
            "keys": {"p256dh": b64e(public), "auth": b64e(auth)},
        }

    def answer(self, endpoint: str, status: int, *, retry_after: str | None = None) -> None:
        """Make ``endpoint`` answer ``status`` (after VAPID checks) instead of delivering."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._browser(endpoint).answer = (status, headers, f"told to answer {status}")

    def recover(self, endpoint: str) -> None:
        """Make ``endpoint`` deliver again after :meth:`answer`."""
        self._browser(endpoint).answer = None

    def hang(self, endpoint: str) -> None:
        """Make ``endpoint`` never answer, until the service closes."""
        self._browser(endpoint).hang = True

    def received(self, endpoint: str) -> list[Received]:
        """Messages delivered to ``endpoint``, oldest first."""
        return self._browser(endpoint).received

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
        """Wait, up to a bound, until the service's state makes ``predicate`` true."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(predicate)

    def _browser(self, endpoint: str) -> _Browser:
        return self._browsers[endpoint.rsplit("/", 1)[1]]

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        browser = self._browsers.get(request.match_info["token"])
        if browser is None:
            return web.Response(status=404, text="no such subscription")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await self._notify()
        try:
            return await self._deliver(request, browser)
        except Refused as exc:
            self.refused.append((exc.status, exc.reason))
            return web.Response(status=exc.status, text=exc.reason)
        finally:
            self.in_flight -= 1
            await self._notify()

    async def _deliver(self, request: web.Request, browser: _Browser) -> web.StreamResponse:
        claims = self._authorize(request.headers.get("Authorization", ""), browser)
        ttl_s, urgency, topic = _push_headers(request)
        body = await request.read()
        if browser.hang:
            await self._hang()
        if browser.answer is not None:
            status, headers, text = browser.answer
            self.answered.append((request.match_info["token"], status))
            return web.Response(status=status, headers=headers, text=text)
        if browser.sampled:
            plaintext: bytes | None = _decrypt(body, browser)
        else:
            _check_header(body)
            plaintext = None
        self.reached += not browser.received
        browser.received.append(Received(plaintext, ttl_s, urgency, topic, claims))
        location = f"{self.origin}/message/{secrets.token_urlsafe(8)}"
        return web.Response(status=201, headers={"Location": location})

    def _authorize(self, header: str, browser: _Browser) -> dict[str, object]:
        params = _auth_params(header)
        try:
            key_bytes = b64d(params["k"])
        except ValueError:
            raise Refused(401, "k is not base64url") from None
        claims = self._verified.get((params["t"], key_bytes))
        if claims is None:  # a sender reuses its token for many messages: verify it once
            claims = _verified_claims(params["t"], key_bytes)
            if len(self._verified) < 1024:
                self._verified[(params["t"], key_bytes)] = claims
        _check_claims(claims, self.origin, self._clock())  # every time: the token may expire
        if browser.application_server_key not in (None, key_bytes):
            raise Refused(403, "VAPID key differs from the subscription's applicationServerKey")
        return claims

    async def _hang(self) -> None:
        self.hanging += 1
        await self._notify()
        try:
            await self._release.wait()
        finally:
            self.hanging -= 1
