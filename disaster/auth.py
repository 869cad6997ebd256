"""Operator credentials: password hashing with scrypt, and random tokens kept only as hashes.

scrypt (RFC 7914) is a memory-hard KDF in Python's standard library: no native dependency to
pin, and costly enough (n=2^15, r=8: 32 MiB, ~0.1 s) that a stolen table is slow to attack.
The parameters are stored with each hash, so they can be raised later without a migration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["hash_password", "new_token", "token_digest", "verify_password"]

_N, _R, _P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024
_MIN_PASSWORD = 12


def hash_password(password: str) -> str:
    """Return ``scrypt$n$r$p$salt$hash`` (base64) for a password of at least 12 characters."""
    if len(password) < _MIN_PASSWORD:
        msg = f"a password needs at least {_MIN_PASSWORD} characters"
        raise ValueError(msg)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM)
    return "$".join(("scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Return whether ``password`` matches a stored hash (constant time in the comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
            maxmem=_MAXMEM, dklen=len(expected),
        )  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(got, expected)


def new_token(prefix: str) -> str:
    """Return a new random secret token, ``prefix`` saying what it is (``op_``, ``ses_``)."""
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    """Return what is stored of a token: its SHA-256 (tokens are random, so no salt needed)."""
    return hashlib.sha256(token.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
