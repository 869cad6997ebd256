"""Operator login, sessions, API tokens, accounts and the audit log, over HTTP.

Failed logins are throttled per username (5 within 15 minutes) and per address (20), counted in
Postgres so every web process sees them; a wrong username and a wrong password get the same
answer. Session cookies are HttpOnly, SameSite=Strict and Secure unless the service itself is
served over plain http on loopback (a laptop drill).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import asyncpg
from aiohttp import web
from pydantic import Field

from disaster import operator_store
from disaster._http import POOL, error, json_body, json_response, limit_param, validated
from disaster.access import OPERATOR, SESSION_COOKIE
from disaster.auth import verify_password
from disaster.domain.models import _Record
from disaster.operator_store import Operator

__all__ = ["SECURE_COOKIES", "LoginIn", "OperatorIn", "TokenIn", "routes"]

SECURE_COOKIES = web.AppKey("secure_cookies", bool)
SESSION_LIFETIME = timedelta(hours=12)  # one night's shift
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_FAILURES = 5  # for one username: guessing one account's password
THROTTLE_REMOTE_FAILURES = 20  # from one address: trying many accounts (a NAT may share it)

routes = web.RouteTableDef()


class LoginIn(_Record):
    """Credentials."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class OperatorIn(LoginIn):
    """A new operator account (admins only)."""

    role: Literal["admin", "operator", "viewer"]
    password: str = Field(min_length=12, max_length=1024)


class TokenIn(_Record):
    """An API token for a script or another system, acting as the caller."""

    name: str = Field(min_length=1, max_length=200)


@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    """Check credentials; start a session (cookie) and answer its CSRF token."""
    creds = validated(LoginIn, await json_body(request))
    remote = request.remote or "?"
    async with request.app[POOL].acquire() as conn:
        by_user, by_remote = await operator_store.failed_login_counts(
            conn, creds.username, remote, THROTTLE_WINDOW
        )
        if by_user >= THROTTLE_FAILURES or by_remote >= THROTTLE_REMOTE_FAILURES:
            await operator_store.audit(conn, creds.username, "login throttled", status=429)
            raise web.HTTPTooManyRequests(
                text='{"reason": "too many failed logins; try again in 15 minutes"}',
                content_type="application/json",
                headers={"Retry-After": str(int(THROTTLE_WINDOW.total_seconds()))},
            )
        found = await operator_store.operator_by_username(conn, creds.username)
        if found is None or not verify_password(creds.password, found[1]):
            await _failed(conn, creds.username, remote)
            raise error(web.HTTPUnauthorized, "wrong username or password")
        operator = found[0]
        token, csrf = await operator_store.create_session(conn, operator, SESSION_LIFETIME)
        await operator_store.audit(conn, operator.username, "login", status=200)
    response = json_response({"username": operator.username, "role": operator.role,
                              "csrf_token": csrf})  # fmt: skip
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True,
        samesite="Strict", secure=request.app[SECURE_COOKIES], path="/",
    )  # fmt: skip
    return response


async def _failed(conn: asyncpg.Connection, username: str, remote: str) -> None:
    await operator_store.record_failed_login(conn, username, remote)
    await operator_store.audit(conn, username, "login failed", status=401,
                               details={"remote": remote})  # fmt: skip


@routes.post("/api/v1/auth/logout")
async def logout(request: web.Request) -> web.Response:
    """End the session."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        async with request.app[POOL].acquire() as conn:
            await operator_store.delete_session(conn, cookie)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/v1/auth/me")
async def me(request: web.Request) -> web.Response:
    """Return who the caller is."""
    operator: Operator = request[OPERATOR]
    return json_response({"username": operator.username, "role": operator.role})


@routes.post("/api/v1/auth/tokens")
async def create_token(request: web.Request) -> web.Response:
    """Issue an API token acting as the caller (shown once)."""
    body = validated(TokenIn, await json_body(request))
    async with request.app[POOL].acquire() as conn:
        token = await operator_store.create_api_token(conn, request[OPERATOR], body.name)
    return json_response({"token": token, "name": body.name}, status=201)


@routes.post("/api/v1/operators")
async def create_operator(request: web.Request) -> web.Response:
    """Create an operator account (admins only)."""
    body = validated(OperatorIn, await json_body(request))
    async with request.app[POOL].acquire() as conn:
        try:
            created = await operator_store.add_operator(
                conn, body.username, body.password, body.role
            )
        except asyncpg.UniqueViolationError:
            raise error(web.HTTPConflict, f"username {body.username!r} is taken") from None
        except asyncpg.CheckViolationError:
            raise error(
                web.HTTPUnprocessableEntity, "username: letters, digits, ._@- only"
            ) from None
    return json_response({"id": str(created.id), "username": created.username,
                          "role": created.role}, status=201)  # fmt: skip


@routes.get("/api/v1/audit")
async def audit_log(request: web.Request) -> web.Response:
    """Return the newest audit entries: who, when, what, on what, outcome."""
    limit = limit_param(request)
    async with request.app[POOL].acquire() as conn:
        rows = await conn.fetch("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1", limit)
    return json_response([
        {"at": r["at"].isoformat(), "actor": r["actor"], "action": r["action"],
         "target": r["target"], "status": r["status"], "details": r["details"]}
        for r in rows
    ])  # fmt: skip
