"""Residents in Postgres: registrations, locations, push channels, answers, erasure.

A resident proves who they are with the token handed out once at registration; only its
SHA-256 is kept, so a copy of the database does not let anyone act as a resident.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from disaster.domain import GeoPoint
from disaster.domain.resident import (
    VULNERABLE_NEEDS,
    Answer,
    AnswerIn,
    Locations,
    PushSubscriptionIn,
    Subscriber,
    SubscriberIn,
    SubscriberUpdate,
    expires_at,
    matches_profiles,
)

__all__ = [
    "LocationRow",
    "PushChannel",
    "add_push_channel",
    "answers_for_alert",
    "authenticate",
    "delete_subscriber",
    "disable_push_channel",
    "insert_answer",
    "locations_written_since",
    "push_channels_of",
    "register",
    "subscriber_by_id",
    "update_subscriber",
    "with_profiles",
]

LocationRow = tuple[uuid.UUID, str, float, float, datetime | None]
PushChannel = tuple[uuid.UUID, uuid.UUID, str, str, str]  # id, subscriber, endpoint, p256dh, auth


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def register(
    conn: asyncpg.Connection, sub: SubscriberIn, *, sub_id: uuid.UUID | None = None
) -> tuple[Subscriber, str]:
    """Store a registration; return it and the resident's token (shown once, kept hashed)."""
    token = secrets.token_urlsafe(32)
    sub_id = sub_id or uuid.uuid4()
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO subscribers (id, language, needs, drills, token_hash)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (id) DO UPDATE SET language = EXCLUDED.language,
                   needs = EXCLUDED.needs, drills = EXCLUDED.drills,
                   token_hash = EXCLUDED.token_hash, updated_at = now()""",
            sub_id, sub.language, list(sub.needs), sub.drills, _digest(token),
        )  # fmt: skip
        await _write_locations(conn, sub_id, sub.places(), replace=True)
    found = await subscriber_by_id(conn, sub_id)
    assert found is not None
    return found, token


async def authenticate(conn: asyncpg.Connection, sub_id: uuid.UUID, token: str) -> bool | None:
    """Return None if there is no such resident, else whether the token is theirs."""
    stored = await conn.fetchval("SELECT token_hash FROM subscribers WHERE id = $1", sub_id)
    if stored is None:
        exists = await conn.fetchval("SELECT true FROM subscribers WHERE id = $1", sub_id)
        return False if exists else None
    return hmac.compare_digest(bytes(stored), _digest(token))


async def subscriber_by_id(conn: asyncpg.Connection, sub_id: uuid.UUID) -> Subscriber | None:
    """Return a resident's registration as they see it, or None."""
    row = await conn.fetchrow(
        """SELECT s.*, (SELECT count(*) FROM push_channels p
                        WHERE p.subscriber_id = s.id AND p.disabled_at IS NULL) AS pushes
           FROM subscribers s WHERE id = $1""",
        sub_id,
    )
    if row is None:
        return None
    places: dict[str, Any] = {}
    current_expires = None
    for loc in await conn.fetch(
        """SELECT kind, lat, lon, expires_at FROM subscriber_locations
           WHERE subscriber_id = $1 AND (expires_at IS NULL OR expires_at > now())""",
        sub_id,
    ):
        places[loc["kind"]] = {"lat": loc["lat"], "lon": loc["lon"]}
        if loc["kind"] == "current":
            current_expires = loc["expires_at"]
            minutes = (current_expires - datetime.now(UTC)).total_seconds() / 60
            places["current"]["expires_in_min"] = max(1, round(minutes))
    locations = Locations.model_validate(places)
    return Subscriber(
        id=row["id"], created_at=row["created_at"], location=locations.home,
        locations=locations, current_expires_at=current_expires, language=row["language"],
        needs=list(row["needs"]), drills=row["drills"], push_channels=row["pushes"],
    )  # fmt: skip


async def update_subscriber(
    conn: asyncpg.Connection, sub_id: uuid.UUID, change: SubscriberUpdate
) -> None:
    """Apply a change: given fields replace, locations set to null are removed."""
    async with conn.transaction():
        await conn.execute(
            """UPDATE subscribers SET language = coalesce($2, language),
                   needs = coalesce($3, needs), drills = coalesce($4, drills), updated_at = now()
               WHERE id = $1""",
            sub_id, change.language, None if change.needs is None else list(change.needs),
            change.drills,
        )  # fmt: skip
        if change.locations is not None:
            await _write_locations(conn, sub_id, change.locations, replace=False)


async def _write_locations(
    conn: asyncpg.Connection, sub_id: uuid.UUID, locations: Locations, *, replace: bool
) -> None:
    """Upsert the given locations; remove those explicitly null (or, replacing, all others)."""
    now = datetime.now(UTC)
    for kind in ("home", "work", "current"):
        place = getattr(locations, kind)
        if place is not None:
            until = expires_at(now, place) if kind == "current" else None
            await conn.execute(
                """INSERT INTO subscriber_locations (subscriber_id, kind, lat, lon, expires_at)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (subscriber_id, kind) DO UPDATE SET lat = EXCLUDED.lat,
                       lon = EXCLUDED.lon, expires_at = EXCLUDED.expires_at, written_at = now()""",
                sub_id, kind, place.lat, place.lon, until,
            )  # fmt: skip
        elif replace or kind in locations.model_fields_set:
            removed = await conn.execute(
                "DELETE FROM subscriber_locations WHERE subscriber_id = $1 AND kind = $2",
                sub_id,
                kind,
            )
            if removed != "DELETE 0":
                await conn.execute(
                    "INSERT INTO subscriber_removals (subscriber_id, kind) VALUES ($1, $2)",
                    sub_id,
                    kind,
                )


async def delete_subscriber(conn: asyncpg.Connection, sub_id: uuid.UUID) -> bool:
    """Erase a resident and everything about them (locations, channels, deliveries, answers);
    only the fact that an id was removed is kept, so caches can forget it too."""
    async with conn.transaction():
        status = await conn.execute("DELETE FROM subscribers WHERE id = $1", sub_id)
        if status == "DELETE 0":
            return False
        await conn.execute("INSERT INTO subscriber_removals (subscriber_id) VALUES ($1)", sub_id)
    return True


async def locations_written_since(
    conn: asyncpg.Connection, since: datetime | None
) -> tuple[list[LocationRow], list[tuple[uuid.UUID, str | None]], datetime | None]:
    """Return the locations written at or after ``since`` (all of them when None), the removals
    since then, and the newest time seen. Callers pass back a time a little earlier than that,
    since transactions commit out of timestamp order; applying a row twice changes nothing."""
    rows = await conn.fetch(
        """SELECT subscriber_id, kind, lon, lat, expires_at, written_at FROM subscriber_locations
           WHERE $1::timestamptz IS NULL OR written_at >= $1""",
        since,
    )
    removed = []
    if since is not None:
        removed = await conn.fetch(
            """SELECT subscriber_id, kind, removed_at FROM subscriber_removals
               WHERE removed_at >= $1""",
            since,
        )
    times = [r["written_at"] for r in rows] + [r["removed_at"] for r in removed]
    return (
        [(r["subscriber_id"], r["kind"], r["lon"], r["lat"], r["expires_at"]) for r in rows],
        [(r["subscriber_id"], r["kind"]) for r in removed],
        max(times, default=since),
    )


async def add_push_channel(
    conn: asyncpg.Connection, sub_id: uuid.UUID, push: PushSubscriptionIn
) -> uuid.UUID:
    """Store a browser push subscription (again: re-enabled with the new keys)."""
    return await conn.fetchval(
        """INSERT INTO push_channels (id, subscriber_id, endpoint, p256dh, auth)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (subscriber_id, endpoint) DO UPDATE SET p256dh = EXCLUDED.p256dh,
               auth = EXCLUDED.auth, disabled_at = NULL
           RETURNING id""",
        uuid.uuid4(), sub_id, str(push.endpoint), push.keys["p256dh"], push.keys["auth"],
    )  # fmt: skip


async def push_channels_of(conn: asyncpg.Connection, sub_ids: list[uuid.UUID]) -> list[PushChannel]:
    """Return the working push channels of some residents."""
    rows = await conn.fetch(
        """SELECT id, subscriber_id, endpoint, p256dh, auth FROM push_channels
           WHERE subscriber_id = ANY($1::uuid[]) AND disabled_at IS NULL""",
        sub_ids,
    )
    return [(r["id"], r["subscriber_id"], r["endpoint"], r["p256dh"], r["auth"]) for r in rows]


async def with_profiles(
    conn: asyncpg.Connection, sub_ids: list[uuid.UUID], profiles: list[str]
) -> list[uuid.UUID]:
    """Keep, in order, the residents whose needs give one of ``profiles`` (empty: all)."""
    if not profiles:
        return sub_ids
    rows = await conn.fetch("SELECT id, needs FROM subscribers WHERE id = ANY($1::uuid[])", sub_ids)
    taking = {r["id"] for r in rows if matches_profiles(r["needs"], profiles)}
    return [i for i in sub_ids if i in taking]


async def disable_push_channel(conn: asyncpg.Connection, channel_id: uuid.UUID) -> None:
    """Stop pushing to an endpoint its push service called gone (404/410)."""
    await conn.execute(
        "UPDATE push_channels SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL",
        channel_id,
    )


async def insert_answer(conn: asyncpg.Connection, sub_id: uuid.UUID, answer: AnswerIn) -> Answer:
    """Record a resident's answer."""
    lat, lon = (answer.location.lat, answer.location.lon) if answer.location else (None, None)
    at = await conn.fetchval(
        """INSERT INTO answers (subscriber_id, alert_id, status, lat, lon, note)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING answered_at""",
        sub_id, answer.alert_id, answer.status, lat, lon, answer.note,
    )  # fmt: skip
    return Answer(**answer.model_dump(), subscriber_id=sub_id, answered_at=at)


async def answers_for_alert(conn: asyncpg.Connection, alert_id: uuid.UUID) -> dict[str, Any]:
    """Return, for the residents an alert reached: how many answered what (their latest answer
    since the alert), and who has not answered, vulnerable residents first."""
    rows = await conn.fetch(
        """SELECT d.subscriber_id, s.needs, latest.status, home.lat, home.lon
           FROM (SELECT DISTINCT subscriber_id FROM deliveries WHERE alert_id = $1) d
           JOIN subscribers s ON s.id = d.subscriber_id
           JOIN alerts a ON a.id = $1
           LEFT JOIN LATERAL (
               SELECT status FROM answers x
               WHERE x.subscriber_id = d.subscriber_id
                 AND (x.alert_id = $1 OR (x.alert_id IS NULL AND x.answered_at >= a.issued_at))
               ORDER BY x.answered_at DESC LIMIT 1) latest ON true
           LEFT JOIN subscriber_locations home
               ON home.subscriber_id = d.subscriber_id AND home.kind = 'home'""",
        alert_id,
    )
    counts = {"safe": 0, "evacuating": 0, "need_help": 0, "unanswered": 0}
    unanswered = []
    for r in rows:
        counts[r["status"] or "unanswered"] += 1
        if r["status"] is None:
            vulnerable = bool(VULNERABLE_NEEDS & set(r["needs"]))
            home = None if r["lat"] is None else GeoPoint(lat=r["lat"], lon=r["lon"])
            unanswered.append({
                "subscriber_id": str(r["subscriber_id"]), "needs": list(r["needs"]),
                "vulnerable": vulnerable, "home": home and home.model_dump(),
            })  # fmt: skip
    unanswered.sort(key=lambda u: (not u["vulnerable"], u["subscriber_id"]))
    return {"alert_id": str(alert_id), "targeted": len(rows), **counts, "not_answered": unanswered}
