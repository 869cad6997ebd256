"""Who may call what: one table for every route, checked by one middleware.

Every route is declared here with its access level, and a route missing from the table is
refused (a test walks the app's routes to keep the table complete). Operators authenticate
with an API token (``Authorization: Bearer op_…``) or a session cookie; a cookie needs the
session's CSRF token in ``X-CSRF-Token`` for anything that changes state, since a browser sends
cookies on cross-site requests too. Resident routes are checked by their handlers against the
resident's own token. Public routes that anyone can hit with writes or costly reads are
rate-limited per address. Every change an operator makes is written to the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import web

from disaster import operator_store
from disaster._http import POOL, error
from disaster.operator_store import Operator

__all__ = ["ACCESS", "OPERATOR", "SESSION_COOKIE", "RateLimiter", "access_middleware"]

_log = logging.getLogger(__name__)

Access = Literal["public", "resident", "viewer", "operator", "admin"]
SESSION_COOKIE = "disaster_session"
OPERATOR = web.RequestKey("operator", Operator)  # who is acting, once authenticated
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_AUDITED_CHARS = 4096
#: A body larger than this (a flood extent's megabytes) is audited by its size and SHA-256,
#: neither parsed nor kept: the digest still proves which file an operator sent.
_AUDITED_BODY_BYTES = 64 * 1024
_SECRET_KEY = re.compile(r"password|token|secret|private|auth", re.IGNORECASE)
#: The same keys in a body that is not JSON: ``"password": "..."`` up to the closing quote.
_SECRET_TEXT = re.compile(
    r'("[^"]*(?:password|token|secret|private|auth)[^"]*"\s*:\s*)"(?:[^"\\]|\\.)*"?',
    re.IGNORECASE,
)

ACCESS: dict[tuple[str, str], Access] = {
    # anyone: health, documents, public alert information, the resident page
    ("GET", "/healthz"): "public",
    ("GET", "/metrics"): "public",
    ("GET", "/api/v1/openapi.json"): "public",
    ("GET", "/api/v1/alerts"): "public",
    ("GET", "/api/v1/alerts.atom"): "public",
    ("GET", "/api/v1/alerts/{id}/cap"): "public",
    ("GET", "/api/v1/stream"): "public",
    ("GET", "/api/v1/push/key"): "public",
    ("GET", "/api/v1/shelters"): "public",
    ("GET", "/api/v1/shelters/{id}"): "public",
    ("GET", "/api/v1/route"): "public",
    ("POST", "/api/v1/subscribers"): "public",
    ("POST", "/api/v1/incidents"): "public",
    ("POST", "/api/v1/auth/login"): "public",
    ("GET", "/resident"): "public",
    ("GET", "/resident/"): "public",
    ("GET", "/resident/{name}"): "public",
    ("GET", "/dashboard"): "public",  # the page is a login form; its data needs a viewer
    ("GET", "/dashboard/"): "public",
    ("GET", "/dashboard/{name}"): "public",
    ("GET", "/dashboard/vendor/{name}"): "public",
    # a resident, with their own token (checked by the handler)
    ("GET", "/api/v1/subscribers/{id}"): "resident",
    ("PATCH", "/api/v1/subscribers/{id}"): "resident",
    ("DELETE", "/api/v1/subscribers/{id}"): "resident",
    ("GET", "/api/v1/subscribers/{id}/inbox"): "resident",
    ("POST", "/api/v1/subscribers/{id}/push"): "resident",
    ("POST", "/api/v1/subscribers/{id}/answers"): "resident",
    # HQ: looking
    ("GET", "/api/v1/stations"): "viewer",
    ("GET", "/api/v1/stations/{id}"): "viewer",
    ("GET", "/api/v1/incidents"): "viewer",
    ("GET", "/api/v1/incidents/{id}"): "viewer",
    ("GET", "/api/v1/sensors/readings"): "viewer",
    ("GET", "/api/v1/weather/reports"): "viewer",
    ("GET", "/api/v1/events"): "viewer",
    ("GET", "/api/v1/auth/me"): "viewer",
    ("GET", "/api/v1/alerts/drafts"): "viewer",
    ("GET", "/api/v1/alerts/{id}/versions"): "viewer",
    ("GET", "/api/v1/alerts/{id}/preview"): "viewer",
    ("GET", "/api/v1/flood-extents"): "viewer",
    ("GET", "/api/v1/buildings.geojson"): "viewer",
    ("GET", "/api/v1/damage"): "viewer",
    ("POST", "/api/v1/auth/logout"): "viewer",
    ("POST", "/api/v1/auth/tokens"): "viewer",
    ("GET", "/api/v1/dashboard/state"): "viewer",
    ("GET", "/api/v1/dashboard/stream"): "viewer",
    ("GET", "/api/v1/roads.geojson"): "viewer",
    # HQ: acting (and seeing who has not answered: vulnerable residents' homes)
    ("PUT", "/api/v1/stations/{id}"): "operator",
    ("POST", "/api/v1/incidents/{id}/resolve"): "operator",
    ("PUT", "/api/v1/sensors/{id}"): "operator",
    ("PUT", "/api/v1/shelters/{id}"): "operator",
    ("PATCH", "/api/v1/shelters/{id}"): "operator",
    ("GET", "/api/v1/alerts/{id}/answers"): "operator",
    ("POST", "/api/v1/alerts/drafts"): "operator",
    ("POST", "/api/v1/alerts/{id}/approve"): "operator",
    ("POST", "/api/v1/alerts/{id}/issue"): "operator",
    ("POST", "/api/v1/alerts/{id}/update"): "operator",
    ("POST", "/api/v1/alerts/{id}/cancel"): "operator",
    ("POST", "/api/v1/flood-extents"): "operator",
    ("POST", "/api/v1/flood-extents/{id}/withdraw"): "operator",
    # HQ: administering
    ("POST", "/api/v1/operators"): "admin",
    ("GET", "/api/v1/audit"): "admin",
}

#: Requests per minute per address on public routes that write or cost (and on login).
RATE_LIMITS: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/subscribers"): 20,
    ("POST", "/api/v1/incidents"): 30,
    ("GET", "/api/v1/route"): 120,
    ("POST", "/api/v1/auth/login"): 20,
}
_RESIDENT_PER_MIN = 120


class RateLimiter:
    """Token buckets per (route, address), in this process: each web process limits what it
    serves, so N processes allow at most N times the rate — a bound, not an exact quota."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}

    def retry_after(self, route: tuple[str, str], remote: str, per_minute: int) -> float:
        """Take one request from the bucket; return 0, or the seconds until one is allowed."""
        now, rate = self._clock(), per_minute / 60.0
        key = (*route, remote)
        tokens, at = self._buckets.get(key, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget the quiet ones rather than grow forever
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate


LIMITER = web.AppKey("rate_limiter", RateLimiter)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse what the caller may not do; audit what operators change."""
    resource = request.match_info.route.resource
    if resource is None:  # no such route: let the router answer 404/405
        return await handler(request)
    method = "GET" if request.method == "HEAD" else request.method
    route = (method, resource.canonical)
    access = ACCESS.get(route)
    if access is None:
        raise error(web.HTTPForbidden, f"{method} {resource.canonical} has no declared access")
    _limit(request, route, access)
    if access in ("public", "resident"):
        return await handler(request)
    operator = await _authenticate(request)
    if not operator.may(access):
        raise error(web.HTTPForbidden, f"this needs the {access} role; you are {operator.role}")
    request[OPERATOR] = operator
    if method in _SAFE:
        return await handler(request)
    return await _audited(request, handler, operator, route)


def _limit(request: web.Request, route: tuple[str, str], access: Access) -> None:
    per_minute = RATE_LIMITS.get(route, _RESIDENT_PER_MIN if access == "resident" else 0)
    limiter = request.app.get(LIMITER)
    if not per_minute or limiter is None:
        return
    wait = limiter.retry_after(route, request.remote or "?", per_minute)
    if wait > 0:
        raise web.HTTPTooManyRequests(
            text=json.dumps({"reason": "too many requests; try again later"}),
            content_type="application/json",
            headers={"Retry-After": str(math.ceil(wait))},
        )


async def _authenticate(request: web.Request) -> Operator:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    cookie = request.cookies.get(SESSION_COOKIE)
    async with request.app[POOL].acquire() as conn:
        if scheme.lower() == "bearer" and token.startswith("op_"):
            operator = await operator_store.operator_for_token(conn, token.strip())
        elif cookie:
            operator = await operator_store.operator_for_session(conn, cookie)
        else:
            operator = None
    if operator is None:
        raise error(web.HTTPUnauthorized, "log in, or give an operator API token")
    if operator.csrf is not None and request.method not in _SAFE:
        sent = request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(sent, operator.csrf):
            raise error(web.HTTPForbidden, "missing or wrong X-CSRF-Token for this session")
    return operator


def _audit_body(raw: bytes) -> dict[str, Any]:
    """Return what the audit log keeps of a body: nothing, the redacted text, or for a large
    one its size and digest."""
    if not raw:
        return {}
    if len(raw) > _AUDITED_BODY_BYTES:
        return {"body_bytes": len(raw), "body_sha256": hashlib.sha256(raw).hexdigest()}
    return {"body": _redacted(raw)}


def _redacted(raw: bytes) -> str:
    """Return a body for the audit log, with passwords, tokens and secrets blanked out."""
    text = raw.decode(errors="replace")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return _SECRET_TEXT.sub(r'\1"***"', text)[:_AUDITED_CHARS]
    return json.dumps(_blank_secrets(body), ensure_ascii=False)[:_AUDITED_CHARS]


def _blank_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "***" if _SECRET_KEY.search(str(k)) else _blank_secrets(v)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [_blank_secrets(v) for v in value]
    return value


async def _audited(
    request: web.Request, handler: Handler, operator: Operator, route: tuple[str, str]
) -> web.StreamResponse:
    details: dict[str, Any] = {}
    status = 500
    try:  # a body over the limit is a 413, audited like any refusal
        details = _audit_body(await request.read()) if request.can_read_body else {}
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        async with request.app[POOL].acquire() as conn:
            await operator_store.audit(
                conn, operator.username, f"{route[0]} {route[1]}", target=request.path,
                status=status, details=details,
            )  # fmt: skip
