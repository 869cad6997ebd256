"""VAPID (RFC 8292): the application server's P-256 key and the signed JWT push services demand.

The operator configures one key for the service; browsers subscribe with its public half (the
``applicationServerKey``), and push services refuse messages not signed by it. Signing an ES256
JWT costs about as much as the message encryption itself, so ``VapidSigner`` signs once per push
service origin and reuses the header until shortly before its ``exp``; a fan-out of a hundred
thousand messages to three push services then signs three times, not a hundred thousand.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid.jwt import sign

__all__ = [
    "MAX_JWT_LIFETIME_S",
    "InvalidVapidKeyError",
    "VapidKey",
    "VapidSigner",
    "b64url_decode",
    "b64url_encode",
    "generate_vapid_key",
    "load_or_create_vapid_key",
    "vapid_key_from_file",
    "vapid_key_from_pem",
    "vapid_key_from_raw",
]

# RFC 8292 §2: "exp" MUST NOT be more than 24 hours from the time of the request.
MAX_JWT_LIFETIME_S = 24 * 3600
_RAW_PRIVATE_BYTES = 32
# A contact a push service operator can reach us at (RFC 8292 §2.1).
_SUBJECT = re.compile(r"^(mailto:[^@\s]+@[^@\s]+|https://[^\s/]+(/\S*)?)$", re.IGNORECASE)


class InvalidVapidKeyError(ValueError):
    """A configured VAPID key that is not a P-256 private key."""


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url, the encoding every Web Push key and token travels in."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str | bytes) -> bytes:
    """Decode base64url with or without padding; browsers send it without."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    raw = raw.strip().replace(b"+", b"-").replace(b"/", b"_").rstrip(b"=")
    return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))


@dataclass(frozen=True, slots=True)
class VapidKey:
    """The application server's P-256 key pair."""

    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_bytes(self) -> bytes:
        """The public key as a 65-byte uncompressed point, as RFC 8292 §3.2 transmits it."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @property
    def application_server_key(self) -> str:
        """What the web page passes to ``pushManager.subscribe`` (base64url, no padding)."""
        return b64url_encode(self.public_bytes)

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM, for the operator to store."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def private_raw(self) -> str:
        """The private scalar as 32 bytes base64url, the form web-push tools print."""
        value = self.private_key.private_numbers().private_value
        return b64url_encode(value.to_bytes(_RAW_PRIVATE_BYTES, "big"))


def _p256(key: object) -> VapidKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        msg = "a VAPID key must be an EC private key on P-256 (prime256v1)"
        raise InvalidVapidKeyError(msg)
    return VapidKey(key)


def generate_vapid_key() -> VapidKey:
    """A fresh key pair, for ``disaster`` setup or tests."""
    return VapidKey(ec.generate_private_key(ec.SECP256R1()))


def vapid_key_from_pem(pem: bytes) -> VapidKey:
    """Load a PEM private key (PKCS#8 or SEC 1 "EC PRIVATE KEY", unencrypted)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        msg = f"not a readable unencrypted PEM private key ({exc})"
        raise InvalidVapidKeyError(msg) from None
    return _p256(key)


def vapid_key_from_file(path: Path) -> VapidKey:
    """Load the key the operator configured: a PEM file, or a file holding the raw base64url."""
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return vapid_key_from_pem(data)
    return vapid_key_from_raw(data.decode("ascii", errors="replace").strip())


def load_or_create_vapid_key(path: Path) -> VapidKey:
    """Load the configured key, or make one at ``path`` (mode 0600) on first use: the embedded
    defaults must run without setup, and the key must then stay the same, since every browser
    subscription is bound to it."""
    if path.exists():
        return vapid_key_from_file(path)
    key = generate_vapid_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_pem())
    try:
        os.link(partial, path)  # never replaces a key another process made first
    except FileExistsError:
        return vapid_key_from_file(path)
    finally:
        partial.unlink()
    return key


def vapid_key_from_raw(text: str) -> VapidKey:
    """Load a private scalar given as 32 bytes base64url (``web-push generate-vapid-keys``)."""
    try:
        raw = b64url_decode(text)
    except ValueError:
        raw = b""
    if len(raw) != _RAW_PRIVATE_BYTES:
        msg = "a raw VAPID private key is 32 bytes in base64url"
        raise InvalidVapidKeyError(msg)
    try:
        key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except ValueError as exc:
        raise InvalidVapidKeyError(str(exc)) from None
    return VapidKey(key)


class VapidSigner:
    """``Authorization: vapid t=<JWT>, k=<key>`` per push service origin, cached until near expiry.

    Parameters
    ----------
    key
        The application server key.
    subject
        ``mailto:`` address or ``https:`` URL where the push service can reach the operator.
    lifetime_s
        How far ahead ``exp`` is set, in seconds; at most 24 h (RFC 8292 §2). Twelve hours leaves
        room for a push service whose clock runs behind ours.
    refresh_before_s
        A cached header is replaced once fewer than this many seconds of its lifetime remain.
    clock
        Seconds since the epoch; tests replace it to move time.
    """

    def __init__(
        self,
        key: VapidKey,
        *,
        subject: str,
        lifetime_s: int = 12 * 3600,
        refresh_before_s: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not _SUBJECT.match(subject):
            msg = f"VAPID subject must be a mailto: address or an https: URL, not {subject!r}"
            raise ValueError(msg)
        if not 0 < refresh_before_s < lifetime_s <= MAX_JWT_LIFETIME_S:
            msg = "need 0 < refresh_before_s < lifetime_s <= 24 h"
            raise ValueError(msg)
        self._key = key
        self._k = key.application_server_key
        self._subject = subject
        self._lifetime_s = lifetime_s
        self._refresh_before_s = refresh_before_s
        self._clock = clock
        self._cache: dict[str, tuple[float, str]] = {}
        self._max_cached = 1024

    @property
    def key(self) -> VapidKey:
        """The key the headers are signed with."""
        return self._key

    def authorization(self, origin: str) -> str:
        """The header value for a push service at ``origin`` (``https://host[:port]``)."""
        now = self._clock()
        cached = self._cache.get(origin)
        if cached is not None and now < cached[0] - self._refresh_before_s:
            return cached[1]
        exp = int(now) + self._lifetime_s
        token = sign({"aud": origin, "exp": exp, "sub": self._subject}, self._key.private_key)
        header = f"vapid t={token}, k={self._k}"
        self._cache.pop(origin, None)
        if len(self._cache) >= self._max_cached:
            self._cache.pop(next(iter(self._cache)))
        self._cache[origin] = (float(exp), header)
        return header
