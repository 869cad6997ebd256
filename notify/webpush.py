"""Web Push delivery: RFC 8030 requests, RFC 8291 ``aes128gcm`` bodies, RFC 8292 VAPID headers.

An evacuation order goes to every resident's browser at once, so the per-message cost is what
matters. The body is encrypted with ``cryptography`` primitives directly (one ephemeral P-256 key,
one ECDH, three HKDFs and one AES-GCM call), which is close to the cost of the key generation and
ECDH alone; the VAPID JWT is signed once per push service origin (``VapidSigner``), not per
message. Sending is bounded twice: a semaphore per push service origin, taken first, and a global
one, so that one push service that hangs or fails holds at most its own share of the slots.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Literal

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from yarl import URL

from notify.ssrf import EndpointPolicy, UnsafeURLError, check_url, guarded_connector
from notify.vapid import VapidSigner, b64url_decode, b64url_encode

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "InvalidSubscriptionError",
    "Outcome",
    "PayloadTooLargeError",
    "PushMessage",
    "PushRequest",
    "PushResult",
    "SenderLimits",
    "Subscription",
    "Urgency",
    "WebPushSender",
    "build_request",
    "encrypt_payload",
    "message_for_alert",
    "new_push_session",
    "outcome_for_status",
    "parse_retry_after",
    "topic_for",
    "urgency_for_level",
]

# RFC 8291 §4: push services need accept no more than 4096 octets of body (RFC 8030 §7.2); less
# the 86-octet header, the 1-octet padding delimiter and the 16-octet AEAD tag leaves 3993.
MAX_PAYLOAD_BYTES = 3993
RECORD_SIZE = 4096
_RS = RECORD_SIZE.to_bytes(4, "big")
_SALT_BYTES = 16
_AUTH_BYTES = 16
_POINT_BYTES = 65
_CURVE = ec.SECP256R1()
_KEY_INFO = b"Content-Encoding: aes128gcm\x00"
_NONCE_INFO = b"Content-Encoding: nonce\x00"
_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

Urgency = Literal["very-low", "low", "normal", "high"]
_URGENCIES = frozenset(("very-low", "low", "normal", "high"))


class PayloadTooLargeError(ValueError):
    """A push message whose plaintext cannot fit one 4096-octet ``aes128gcm`` body."""


class InvalidSubscriptionError(ValueError):
    """A subscription JSON from a browser that cannot be sent to."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """A browser's ``PushSubscription``, with its key parsed once rather than per message."""

    endpoint: str
    origin: str
    p256dh: bytes
    auth: bytes
    public_key: ec.EllipticCurvePublicKey = field(repr=False, compare=False)

    @classmethod
    def from_keys(cls, endpoint: str, *, p256dh: str, auth: str) -> Subscription:
        """Build from the endpoint and the two base64url keys of ``PushSubscription.toJSON()``."""
        try:
            url = URL(endpoint)
        except ValueError:
            url = URL()
        if not url.absolute or not url.raw_host:
            msg = f"endpoint {endpoint[:200]!r} is not an absolute URL"
            raise InvalidSubscriptionError(msg)
        point, secret = _decode_key(p256dh, "p256dh"), _decode_key(auth, "auth")
        if len(point) != _POINT_BYTES or point[0] != 4 or len(secret) != _AUTH_BYTES:
            msg = "p256dh must be a 65-byte uncompressed P-256 point and auth 16 bytes"
            raise InvalidSubscriptionError(msg)
        try:
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, point)
        except ValueError:
            msg = "p256dh is not a point on P-256"
            raise InvalidSubscriptionError(msg) from None
        return cls(endpoint, str(url.origin()), point, secret, public_key)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Subscription:
        """Build from ``{"endpoint": ..., "keys": {"p256dh": ..., "auth": ...}}``."""
        endpoint, keys = data.get("endpoint"), data.get("keys")
        if not isinstance(endpoint, str) or not isinstance(keys, Mapping):
            msg = "a subscription needs an endpoint string and a keys object"
            raise InvalidSubscriptionError(msg)
        p256dh, auth = keys.get("p256dh"), keys.get("auth")
        if not isinstance(p256dh, str) or not isinstance(auth, str):
            msg = "a subscription needs keys.p256dh and keys.auth strings"
            raise InvalidSubscriptionError(msg)
        return cls.from_keys(endpoint, p256dh=p256dh, auth=auth)


def _decode_key(text: str, name: str) -> bytes:
    try:
        return b64url_decode(text)
    except ValueError:
        msg = f"{name} is not base64url"
        raise InvalidSubscriptionError(msg) from None


@dataclass(frozen=True, slots=True)
class PushMessage:
    """One payload with its RFC 8030 delivery options; checked on construction, not on send.

    Parameters
    ----------
    payload
        The plaintext, at most ``MAX_PAYLOAD_BYTES`` octets.
    ttl_s
        How long the push service keeps the message for an offline browser, in seconds.
    urgency
        RFC 8030 §5.3; a phone on battery saving may hold back anything below ``high``.
    topic
        RFC 8030 §5.4: a newer message with the same topic replaces an undelivered older one.
    """

    payload: bytes
    ttl_s: int
    urgency: Urgency = "normal"
    topic: str | None = None

    def __post_init__(self) -> None:
        if len(self.payload) > MAX_PAYLOAD_BYTES:
            msg = (
                f"push payload is {len(self.payload)} bytes; one aes128gcm record carries at "
                f"most {MAX_PAYLOAD_BYTES} (RFC 8291 §4)"
            )
            raise PayloadTooLargeError(msg)
        if self.ttl_s < 0:
            msg = "ttl_s must be >= 0"
            raise ValueError(msg)
        if self.urgency not in _URGENCIES:
            msg = f"urgency must be one of {sorted(_URGENCIES)}"
            raise ValueError(msg)
        if self.topic is not None and not _TOPIC.match(self.topic):
            msg = "topic must be 1-32 characters of the base64url alphabet (RFC 8030 §5.4)"
            raise ValueError(msg)


def urgency_for_level(level: int) -> Urgency:
    """``high`` for 警戒レベル 4 and 5, so no phone defers an evacuation order to save power."""
    if not 1 <= level <= 5:
        msg = f"警戒レベル runs from 1 to 5, not {level}"
        raise ValueError(msg)
    return "high" if level >= 4 else "normal"


def topic_for(key: str) -> str:
    """A valid RFC 8030 topic for any key, e.g. an alert series, so updates replace each other."""
    return b64url_encode(hashlib.sha256(key.encode()).digest()[:24])


def message_for_alert(
    payload: bytes, *, level: int, ttl_s: int, series: str | None = None
) -> PushMessage:
    """The push message for an alert at ``level``, collapsing on ``series`` when given."""
    topic = topic_for(series) if series is not None else None
    return PushMessage(payload, ttl_s, urgency_for_level(level), topic)


def _hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(hashes.SHA256(), length, salt=salt, info=info).derive(ikm)


def _encrypt(
    payload: bytes, subscription: Subscription, salt: bytes, ephemeral: ec.EllipticCurvePrivateKey
) -> bytes:
    """RFC 8291 §3.4 with a given key and salt; one record, so no padding beyond the delimiter."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        msg = f"push payload is {len(payload)} bytes, more than {MAX_PAYLOAD_BYTES}"
        raise PayloadTooLargeError(msg)
    shared = ephemeral.exchange(ec.ECDH(), subscription.public_key)
    as_public = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    key_info = b"WebPush: info\x00" + subscription.p256dh + as_public
    ikm = _hkdf(subscription.auth, shared, key_info, 32)
    cek = _hkdf(salt, ikm, _KEY_INFO, 16)
    nonce = _hkdf(salt, ikm, _NONCE_INFO, 12)
    record = AESGCM(cek).encrypt(nonce, payload + b"\x02", None)
    return b"".join((salt, _RS, bytes((len(as_public),)), as_public, record))


def encrypt_payload(payload: bytes, subscription: Subscription) -> bytes:
    """The ``aes128gcm`` body for one subscription, with a fresh key pair and salt every call."""
    return _encrypt(payload, subscription, os.urandom(_SALT_BYTES), ec.generate_private_key(_CURVE))


class Outcome(StrEnum):
    """What the caller does next with a subscription."""

    DELIVERED = "delivered"
    GONE = "gone"  # unsubscribe the endpoint
    RETRY_LATER = "retry_later"  # try again, not before retry_after_s when given
    REJECTED = "rejected"  # the request itself is wrong; retrying will not help
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class PushResult:
    """The outcome for one endpoint, with the HTTP status and a reason for the logs."""

    endpoint: str
    outcome: Outcome
    status: int | None = None
    reason: str = ""
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class PushRequest:
    """A ready-to-send RFC 8030 request."""

    url: str
    headers: dict[str, str]
    body: bytes


def outcome_for_status(status: int) -> Outcome:
    """Map a push service's answer to what the caller should do (RFC 8030 §5, §6.2, §8.3)."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in (404, 410):
        return Outcome.GONE
    if status == 429 or status >= 500:
        return Outcome.RETRY_LATER
    return Outcome.REJECTED


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` of delta-seconds or an HTTP-date; None if unusable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def build_request(
    subscription: Subscription, message: PushMessage, signer: VapidSigner
) -> PushRequest:
    """Encrypt and sign for one subscription: all the per-message CPU work of a send."""
    headers = {
        "TTL": str(message.ttl_s),
        "Urgency": message.urgency,
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "Authorization": signer.authorization(subscription.origin),
    }
    if message.topic is not None:
        headers["Topic"] = message.topic
    body = encrypt_payload(message.payload, subscription)
    return PushRequest(subscription.endpoint, headers, body)


@dataclass(frozen=True, slots=True)
class SenderLimits:
    """Concurrency and time bounds for ``WebPushSender``.

    Parameters
    ----------
    max_concurrency
        Requests in flight across all push services.
    max_per_origin
        Requests in flight to one push service origin; a slow one holds no more than this.
    timeout_s
        Whole request, connect to last byte read, in seconds.
    connect_timeout_s
        Waiting for a connection: name lookup and connect, in seconds.
    max_reason_bytes
        How much of an error response body is read for the reason.
    """

    max_concurrency: int = 256
    max_per_origin: int = 64
    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    max_reason_bytes: int = 512


def new_push_session(policy: EndpointPolicy, limits: SenderLimits) -> aiohttp.ClientSession:
    """The one session all pushes share: guarded name lookups, no cookies, no proxy from env."""
    connector = guarded_connector(
        policy, limit=limits.max_concurrency, limit_per_host=limits.max_per_origin
    )
    return aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
    )


@dataclass(slots=True)
class _Slot:
    semaphore: asyncio.Semaphore
    users: int = 0


class _OriginSlots:
    """A semaphore per origin, dropped when nobody holds or waits for it."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._slots: dict[str, _Slot] = {}

    async def acquire(self, origin: str) -> None:
        slot = self._slots.get(origin)
        if slot is None:
            slot = self._slots[origin] = _Slot(asyncio.Semaphore(self._size))
        slot.users += 1
        try:
            await slot.semaphore.acquire()
        except BaseException:
            self._leave(origin)
            raise

    def release(self, origin: str) -> None:
        self._slots[origin].semaphore.release()
        self._leave(origin)

    def _leave(self, origin: str) -> None:
        slot = self._slots[origin]
        slot.users -= 1
        if slot.users == 0:
            del self._slots[origin]


class WebPushSender:
    """Sends push messages over one shared session; every call ends in a ``PushResult``.

    Parameters
    ----------
    session
        From ``new_push_session``, so name lookups are checked against ``policy``.
    signer
        Supplies the cached VAPID ``Authorization`` per origin.
    policy
        What endpoints may reach; checked before every request.
    limits
        Concurrency and time bounds.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        signer: VapidSigner,
        *,
        policy: EndpointPolicy,
        limits: SenderLimits | None = None,
    ) -> None:
        self._session = session
        self._signer = signer
        self._policy = policy
        self._limits = limits or SenderLimits()
        self._global = asyncio.Semaphore(self._limits.max_concurrency)
        self._origins = _OriginSlots(self._limits.max_per_origin)
        self._timeout = aiohttp.ClientTimeout(
            total=self._limits.timeout_s, connect=self._limits.connect_timeout_s
        )

    async def send(self, subscription: Subscription, message: PushMessage) -> PushResult:
        """Deliver one message; waits for a slot of its origin first, then a global one."""
        try:
            check_url(subscription.endpoint, self._policy)
        except UnsafeURLError as exc:
            return PushResult(subscription.endpoint, Outcome.REJECTED, reason=exc.reason)
        await self._origins.acquire(subscription.origin)
        try:
            async with self._global:
                return await self._post(build_request(subscription, message, self._signer))
        finally:
            self._origins.release(subscription.origin)

    async def send_many(
        self, subscriptions: Sequence[Subscription], message: PushMessage
    ) -> list[PushResult]:
        """Deliver one message to many subscriptions; results in the order given.

        Each origin gets its own few workers rather than one task per subscription, so a fan-out
        to a hundred thousand browsers holds a few hundred coroutines, and a hanging push service
        only stalls its own workers.
        """
        results: list[PushResult | None] = [None] * len(subscriptions)
        by_origin: dict[str, list[int]] = {}
        for index, subscription in enumerate(subscriptions):
            by_origin.setdefault(subscription.origin, []).append(index)
        async with asyncio.TaskGroup() as group:
            for indices in by_origin.values():
                todo = iter(indices)
                for _ in range(min(self._limits.max_per_origin, len(indices))):
                    group.create_task(self._drain(todo, subscriptions, message, results))
        return [result for result in results if result is not None]

    async def _drain(
        self,
        todo: Iterator[int],
        subscriptions: Sequence[Subscription],
        message: PushMessage,
        results: list[PushResult | None],
    ) -> None:
        for index in todo:
            results[index] = await self.send(subscriptions[index], message)

    async def _post(self, request: PushRequest) -> PushResult:
        try:
            async with self._session.post(
                request.url,
                data=request.body,
                headers=request.headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                detail = await response.content.read(self._limits.max_reason_bytes)
                return _result(request.url, response, detail)
        except UnsafeURLError as exc:
            return PushResult(request.url, Outcome.REJECTED, reason=exc.reason)
        except TimeoutError:
            reason = f"no answer within {self._limits.timeout_s} s"
            return PushResult(request.url, Outcome.TIMEOUT, reason=reason)
        except aiohttp.ClientError as exc:
            # Refused, reset, a failed name lookup: the network may recover, so try again later.
            reason = f"connection failed: {exc}"
            return PushResult(request.url, Outcome.RETRY_LATER, reason=reason)


def _result(url: str, response: aiohttp.ClientResponse, detail: bytes) -> PushResult:
    outcome = outcome_for_status(response.status)
    if outcome is Outcome.DELIVERED:
        return PushResult(url, outcome, response.status)
    text = detail.decode("utf-8", errors="replace").strip()
    reason = f"HTTP {response.status} {response.reason or ''}".rstrip()
    if text:
        reason = f"{reason}: {text}"
    retry_after = None
    if outcome is Outcome.RETRY_LATER:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return PushResult(url, outcome, response.status, reason, retry_after)
