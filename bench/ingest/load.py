"""The load for the ingest benchmark: a fixed river/sensor mix, produced at a set pace.

A module of its own so that a spawned producer process can import it.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

from disaster import topics
from disaster._kafka import new_producer

__all__ = ["STATIONS", "produce", "produce_in_child", "records"]

STATIONS = 50


def records(count: int) -> list[tuple[str, bytes, bytes]]:
    """Return (topic, key, value) in a fixed 60/40 river/sensor mix; times are set at send."""
    out = []
    for i in range(count):
        if i % 5 < 3:
            station = f"bench-{i % STATIONS}"
            out.append((topics.RIVER_RAW, station.encode(), json.dumps(
                {"station_id": station, "level_m": 1.0 + (i % 7) * 0.01, "observed_at": "{t}"}
            ).encode()))  # fmt: skip
        else:
            sensor = f"bench-rain-{i % 200}"
            out.append((topics.SENSOR_RAW, sensor.encode(), json.dumps(
                {"sensor_id": sensor, "kind": "rain_rate", "value": 5.0, "observed_at": "{t}"}
            ).encode()))  # fmt: skip
    return out


async def produce(
    bootstrap: str, records: list[tuple[str, bytes, bytes]], rate: float | None = None
) -> float:
    """Send every record stamped with its send time, at ``rate`` per second (None: as fast as
    possible); return the duration."""
    producer = new_producer(bootstrap)
    await producer.start()
    start = time.perf_counter()
    for i, (topic, key, value) in enumerate(records):
        if rate is not None and i % 100 == 0:  # pace in slices of 100 records
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        now = datetime.now(UTC).isoformat()
        await producer.send(topic, value.replace(b"{t}", now.encode()), key=key)
    await producer.flush()
    await producer.stop()
    return time.perf_counter() - start


def produce_in_child(bootstrap: str, count: int, rate: float | None) -> float:
    """The sources: a separate process, as real gauges and feeds are, so that producing does
    not compete with the ingest path for this process's event loop."""
    return asyncio.run(produce(bootstrap, records(count), rate))
