"""The notifier: ``alerts`` in, one delivery per resident inside the area out.

Deliveries are rows in Postgres (the resident's inbox) and records on the ``deliveries`` topic,
where the push, webhook and other channel adapters pick them up.
"""

from __future__ import annotations

import asyncpg
import numpy as np
from aiokafka import AIOKafkaProducer, ConsumerRecord

from disaster import store, topics
from disaster._kafka import decode_record, encode_json
from disaster.domain import Alert
from notify.targeting import points_inside

__all__ = ["Notifier"]


class Notifier:
    """Handles ``alerts`` records; a redelivered alert adds no second delivery row."""

    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer) -> None:
        self._pool = pool
        self._producer = producer

    async def handle(self, record: ConsumerRecord) -> None:
        """Record a delivery for every subscriber inside the alert's area."""
        alert = decode_record(record.value, Alert, "an alert")
        shape = alert.area.to_shape()
        async with self._pool.acquire() as conn:
            candidates = await store.subscribers_in_box(conn, shape.bounds)
            ids = [c[0] for c in candidates]
            lon = np.fromiter((c[1] for c in candidates), np.float64, len(candidates))
            lat = np.fromiter((c[2] for c in candidates), np.float64, len(candidates))
            inside = [ids[i] for i in np.flatnonzero(points_inside(shape, lon, lat))]
            async with conn.transaction():
                await store.insert_deliveries(conn, alert.id, inside)
        # All of them, not only the new rows: after a crash between the commit and the sends
        # the redelivered alert must publish again. Channel adapters dedupe on the pair.
        for subscriber_id in inside:
            body = {"alert_id": str(alert.id), "subscriber_id": str(subscriber_id)}
            await self._producer.send(
                topics.DELIVERIES, encode_json(body), key=str(subscriber_id).encode()
            )
        await self._producer.flush()
