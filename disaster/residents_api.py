"""Resident endpoints: register, manage one's own record, push channels, answers, erasure.

Everything about a resident needs the token handed out at registration (``Authorization:
Bearer <token>``). Bodies with locations are never logged. HQ reads answers per alert.
"""

from __future__ import annotations

from aiohttp import web

from disaster import resident_store, store
from disaster._http import POOL, error, json_body, json_response, uuid_param, validated
from disaster.domain.resident import AnswerIn, PushSubscriptionIn, SubscriberIn, SubscriberUpdate
from notify.ssrf import EndpointPolicy, UnsafeURLError, check_url
from notify.vapid import VapidKey

__all__ = ["PUSH_POLICY", "VAPID_KEY", "routes"]

VAPID_KEY = web.AppKey("vapid_key", VapidKey)
PUSH_POLICY = web.AppKey("push_policy", EndpointPolicy)

routes = web.RouteTableDef()


async def _authorised(request: web.Request) -> None:
    """Answer 404 for an unknown resident, 401 without the resident's own token."""
    sub_id = uuid_param(request, "id")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    async with request.app[POOL].acquire() as conn:
        known = await resident_store.authenticate(conn, sub_id, token.strip())
    if known is None:
        raise error(web.HTTPNotFound, f"no subscriber {sub_id}")
    if scheme.lower() != "bearer" or not known:
        raise error(web.HTTPUnauthorized, "give the resident's token: Authorization: Bearer …")


@routes.post("/api/v1/subscribers")
async def register_subscriber(request: web.Request) -> web.Response:
    """Register a resident; the answer holds the token, shown this once."""
    sub_in = validated(SubscriberIn, await json_body(request))
    async with request.app[POOL].acquire() as conn:
        sub, token = await resident_store.register(conn, sub_in)
    return json_response({**sub.model_dump(mode="json"), "token": token}, status=201)


@routes.get("/api/v1/subscribers/{id}")
async def get_subscriber(request: web.Request) -> web.Response:
    """Return the resident's own record: everything kept about them."""
    await _authorised(request)
    async with request.app[POOL].acquire() as conn:
        sub = await resident_store.subscriber_by_id(conn, uuid_param(request, "id"))
    assert sub is not None
    return json_response(sub.model_dump(mode="json"))


@routes.patch("/api/v1/subscribers/{id}")
async def update_subscriber(request: web.Request) -> web.Response:
    """Change language, needs, drills or locations (null removes a location)."""
    await _authorised(request)
    change = validated(SubscriberUpdate, await json_body(request))
    sub_id = uuid_param(request, "id")
    async with request.app[POOL].acquire() as conn:
        await resident_store.update_subscriber(conn, sub_id, change)
        sub = await resident_store.subscriber_by_id(conn, sub_id)
    assert sub is not None
    return json_response(sub.model_dump(mode="json"))


@routes.delete("/api/v1/subscribers/{id}")
async def delete_subscriber(request: web.Request) -> web.Response:
    """Erase the resident and everything about them."""
    await _authorised(request)
    async with request.app[POOL].acquire() as conn:
        await resident_store.delete_subscriber(conn, uuid_param(request, "id"))
    return web.Response(status=204)


@routes.get("/api/v1/subscribers/{id}/inbox")
async def subscriber_inbox(request: web.Request) -> web.Response:
    """Return what this resident has been sent."""
    await _authorised(request)
    async with request.app[POOL].acquire() as conn:
        return json_response(await store.inbox_of(conn, uuid_param(request, "id")))


@routes.post("/api/v1/subscribers/{id}/push")
async def add_push_subscription(request: web.Request) -> web.Response:
    """Add a browser's push subscription; endpoints that could reach inside are refused."""
    await _authorised(request)
    push = validated(PushSubscriptionIn, await json_body(request))
    try:
        check_url(str(push.endpoint), request.app[PUSH_POLICY])
    except UnsafeURLError as exc:
        raise error(web.HTTPUnprocessableEntity, f"endpoint: {exc.reason}") from None
    async with request.app[POOL].acquire() as conn:
        channel = await resident_store.add_push_channel(conn, uuid_param(request, "id"), push)
    return json_response({"channel_id": str(channel)}, status=201)


@routes.post("/api/v1/subscribers/{id}/answers")
async def answer(request: web.Request) -> web.Response:
    """Record "safe", "evacuating" or "need help"."""
    await _authorised(request)
    body = validated(AnswerIn, await json_body(request))
    async with request.app[POOL].acquire() as conn:
        stored = await resident_store.insert_answer(conn, uuid_param(request, "id"), body)
    return json_response(stored.model_dump(mode="json"), status=201)


@routes.get("/api/v1/push/key")
async def push_key(request: web.Request) -> web.Response:
    """Return the VAPID public key a browser subscribes with (``applicationServerKey``)."""
    return json_response({"applicationServerKey": request.app[VAPID_KEY].application_server_key})


@routes.get("/api/v1/alerts/{id}/answers")
async def alert_answers(request: web.Request) -> web.Response:
    """Return how the residents an alert reached have answered, and who has not, vulnerable
    residents first."""
    alert_id = uuid_param(request, "id")
    async with request.app[POOL].acquire() as conn:
        if await store.alert_by_id(conn, alert_id) is None:
            raise error(web.HTTPNotFound, f"no alert {alert_id}")
        return json_response(await resident_store.answers_for_alert(conn, alert_id))
