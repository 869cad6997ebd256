"""Closing a shelter re-routes the residents an alert in force sent there: their pattern C
message comes again, composed on the roads and shelters as they are now (another shelter),
under the same notification tag; residents sent elsewhere are not woken again.

Runs the whole service of the session (web API, notifier, delivery workers) with the generated
town as its city, and a real push service decrypting what arrives."""

from __future__ import annotations

import json
import uuid
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from disaster import outbox_store, store
from disaster._pg import connect
from disaster.outbox_store import RoutedDelivery, Settled
from disaster.settings import Settings
from tests.notify.push_service import PushService
from tests.notify.test_delivery_flow import _alert, _issue, _resident
from tests.notify.test_slow_endpoints import _row
from tests.support import load_town, square, wait_until


async def _route(http: aiohttp.ClientSession, at: tuple[float, float]) -> dict[str, Any]:
    query = {"from": f"{at[0]},{at[1]}", "profile": "walk", "hazard": "flood"}
    async with http.get("/api/v1/route", params=query) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def _elsewhere(http: aiohttp.ClientSession, avoid: str) -> tuple[float, float]:
    """A place in town whose route leads to another shelter than ``avoid``: another shelter's
    own door."""
    async with http.get("/api/v1/shelters", params={"hazard": "flood", "open": "true"}) as resp:
        shelters = await resp.json()
    for shelter in shelters:
        at = (shelter["location"]["lat"], shelter["location"]["lon"])
        if shelter["id"] != avoid and (await _route(http, at))["shelter_id"] == shelter["id"]:
            return at
    raise AssertionError("the town has no second flood shelter to be sent to")


def _text(service: PushService, endpoint: str, index: int) -> dict[str, Any]:
    return json.loads(service.received(endpoint)[index].plaintext)  # type: ignore[no-any-return]


@pytest.mark.timeout(120)
async def test_closing_a_shelter_sends_those_sent_there_their_new_route_and_nobody_else(
    http: aiohttp.ClientSession, push_service: PushService, pool: asyncpg.Pool,
    producer: AIOKafkaProducer, settings: Settings,
) -> None:  # fmt: skip
    service = push_service
    query = await load_town(settings, http)
    lat, lon = (float(v) for v in query["from"].split(","))
    first = await _route(http, (lat, lon))
    closing = first["shelter_id"]
    assert closing, first
    other = await _elsewhere(http, closing)
    sent_there_id, sent_there = await _resident(http, service, lon, lat, language="en")
    elsewhere_id, elsewhere = await _resident(http, service, other[1], other[0], language="en")
    west, south = min(lon, other[1]) - 0.01, min(lat, other[0]) - 0.01
    size = max(abs(lon - other[1]), abs(lat - other[0])) + 0.02
    alert = _alert(west, south, area=square(west, south, size))
    await _issue(pool, producer, alert)
    await service.wait_until(
        lambda: bool(service.received(sent_there) and service.received(elsewhere)), 30
    )
    assert first["shelter_name"] in _text(service, sent_there, 0)["full_text"]

    url = f"/api/v1/shelters/{closing}"
    async with http.get(url) as resp:
        shelter = await resp.json()
    try:
        async with http.patch(url, json={"open": False, "occupancy": 0}) as resp:
            assert resp.status == 200, await resp.text()
            assert int(resp.headers["X-Residents-Rerouted"]) >= 1
        await service.wait_until(lambda: len(service.received(sent_there)) == 2, 30)
        now = await _route(http, (lat, lon))
        assert now["shelter_id"] not in (None, closing), now
        again = _text(service, sent_there, 1)
        assert now["shelter_name"] in again["full_text"]
        assert first["shelter_name"] not in again["full_text"]
        assert again["tag"] == _text(service, sent_there, 0)["tag"]  # replaces, not adds

        async def settled() -> bool:
            return (await _row(pool, alert.id, sent_there_id))["status"] == "delivered"

        await wait_until(settled, timeout_s=30)
    finally:
        body = {"open": shelter["open"], "occupancy": shelter["occupancy"]}
        async with http.patch(url, json=body) as resp:
            assert resp.status == 200
            assert resp.headers["X-Residents-Rerouted"] == "0"  # opening re-routes nobody
    assert len(service.received(elsewhere)) == 1  # sent to another shelter: not woken again
    row = await _row(pool, alert.id, elsewhere_id)
    assert (row["status"], row["attempts"]) == ("delivered", 1)


async def test_a_push_being_sent_is_queued_again_when_settled_and_a_delivered_one_at_once(
    own_database: str,
) -> None:
    """The outbox's side of re-routing: a delivered push is due again at once; one a worker
    is sending (composed before the closing) is due again once that worker settles it."""
    conn = await connect(own_database)
    try:
        sending, delivered = uuid.uuid4(), uuid.uuid4()
        await conn.executemany(
            "INSERT INTO subscribers (id, language) VALUES ($1, 'ja')", [(sending,), (delivered,)]
        )
        alert = _alert(139.0, 35.0)
        await store.insert_alert(conn, alert)
        async with conn.transaction():
            await outbox_store.enqueue(conn, alert.id, 4, [], [(delivered, uuid.uuid4())])
        [done] = await outbox_store.claim_due(conn, 10, lease_s=60)
        await outbox_store.settle(conn, [Settled(done, "delivered")])
        async with conn.transaction():
            await outbox_store.enqueue(conn, alert.id, 4, [], [(sending, uuid.uuid4())])
        [under_way] = await outbox_store.claim_due(conn, 10, lease_s=60)
        both = [RoutedDelivery(alert.id, s, c.channel, "flood", (), 35.0, 139.0)
                for s, c in ((delivered, done), (sending, under_way))]  # fmt: skip
        assert await outbox_store.resend(conn, both, "re-routed: test") == 2
        [again] = await outbox_store.claim_due(conn, 10, lease_s=60)
        assert (again.subscriber_id, again.attempts) == (delivered, 1)  # due at once, afresh
        await outbox_store.settle(conn, [Settled(under_way, "delivered")])
        [after] = await outbox_store.claim_due(conn, 10, lease_s=60)
        assert (after.subscriber_id, after.attempts) == (sending, 1)  # due once settled
        await outbox_store.settle(conn, [Settled(again, "delivered"), Settled(after, "delivered")])
        rows = await conn.fetch("SELECT status, resend FROM deliveries WHERE channel <> 'inbox'")
    finally:
        await conn.close()
    assert sorted(tuple(r) for r in rows) == [("delivered", False)] * 2
