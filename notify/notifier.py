"""The notifier: ``alerts`` in, the alert's deliveries written to the outbox in one transaction.

Targeting runs against the in-memory :class:`ResidentLocations`, caught up before each alert.
Every targeted resident gets an inbox delivery (their page reads it) and one pending delivery
per push channel, which the delivery workers send. A drill alert reaches only residents who
opted into drills; one limited to routing profiles, only residents whose needs give one of them
(``resident.profile_for``). The inbox deliveries are also published on ``deliveries`` for whoever
follows progress.
"""

from __future__ import annotations

import logging
import time

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord

from disaster import area_store, outbox_store, resident_store, topics, webhook_store
from disaster._kafka import decode_record, encode_json
from disaster.domain import Alert, InvalidInputError
from notify.residents import ResidentLocations, target_area

__all__ = ["Notifier"]

_log = logging.getLogger(__name__)


class Notifier:
    """Handles ``alerts`` records; a redelivered alert adds no second delivery row."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer) -> None:
        self._pool = pool
        self._producer = producer
        self._residents = ResidentLocations()

    async def handle(self, record: ConsumerRecord) -> None:
        """Write the outbox rows of an alert for every resident inside its area."""
        alert = decode_record(record.value, Alert, "an alert")
        started = time.perf_counter()
        async with self._pool.acquire() as conn:
            # Alerts are stored before they are published: one Postgres does not know is another
            # deployment's (a shared cluster), and its rows could not be written here anyway.
            if not await conn.fetchval("SELECT true FROM alerts WHERE id = $1", alert.id):
                msg = f"alert {alert.id} is not in this system's record: not delivered"
                raise InvalidInputError(msg)
            await self._residents.refresh(conn)
            coded = await area_store.areas_by_codes(conn, list(alert.area_codes))
            for code in sorted(set(alert.area_codes) - coded.keys()):
                _log.error("alert %s names unknown area code %s: not targeted", alert.id, code)
            shapes = [geometry for _, geometry in coded.values()]
            inside = self._residents.targets(target_area(alert, shapes))
            if alert.exercise:
                inside = await _drill_takers(conn, inside)
            inside = await resident_store.with_profiles(conn, inside, list(alert.profiles))
            pushes = [(sub, channel) for channel, sub, *_ in
                      await resident_store.push_channels_of(conn, inside)]  # fmt: skip
            async with conn.transaction():
                new = await outbox_store.enqueue(conn, alert.id, int(alert.level), inside, pushes)
                await webhook_store.enqueue(conn, alert.id, int(alert.level))
        _log.info(
            "alert %s: %d residents, %d push channels, %d new rows in %.0f ms",
            alert.id, len(inside), len(pushes), new, (time.perf_counter() - started) * 1e3,
        )  # fmt: skip
        # All of them, not only the new rows: after a crash between the commit and the sends
        # the redelivered alert must publish again. Followers dedupe on the pair.
        for subscriber_id in inside:
            body = {"alert_id": str(alert.id), "subscriber_id": str(subscriber_id),
                    "channel": "inbox", "status": "delivered"}  # fmt: skip
            await self._producer.send(
                topics.DELIVERIES, encode_json(body), key=str(subscriber_id).encode()
            )
        await self._producer.flush()


async def _drill_takers(conn: asyncpg.Connection, ids: list) -> list:
    """Keep the residents who opted into drills (exercise alerts)."""
    rows = await conn.fetch("SELECT id FROM subscribers WHERE id = ANY($1::uuid[]) AND drills", ids)
    taking = {r["id"] for r in rows}
    return [i for i in ids if i in taking]
