"""The soak's city: the generated town, its districts, gauges, shelters and residents.

The town is ``evac.city.make_town`` (its road graph is the service's city, so alerts are
composed with each resident's route, pattern C), cut into a grid of districts; each district
is the warning area of several river gauges. Residents are spread evenly over the town and
bulk-loaded with COPY, each with one Web Push subscription to the soak's sink (real P-256 keys,
as in ``bench.notify.fanout``); the ones registering during the soak come over HTTP.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import numpy as np

from bench.notify.fanout import copy_residents
from disaster import shelter_store, store
from disaster.domain import PolygonArea
from evac.city import make_town, town_shelters
from ingest.jma import load_level_map
from ingest.weather import parse_weather
from notify.vapid import b64url_encode
from tests.support import make_station

__all__ = ["LANGUAGES", "Town", "browser_keys", "build_town", "populate", "warning_telegrams"]

#: Resident ``n`` reads ``LANGUAGES[n % 10]``: 80 % Japanese, 10 % English, 10 % easy Japanese.
LANGUAGES = ("ja", "ja", "en", "ja", "ja", "ja-easy", "ja", "ja", "ja", "ja")
_JMA_SAMPLES = Path("/work/shared/data/jma_xml")


@dataclass(frozen=True)
class Town:
    """What the load needs to know of the town: its box and gauges."""

    box: tuple[float, float, float, float]
    stations: tuple[str, ...]
    districts: int


def browser_keys(count: int) -> tuple[list[tuple[int, bytes]], list[tuple[str, str]]]:
    """Browsers' key pairs: (private scalar, auth) for the sink, (p256dh, auth) for residents."""
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415 — setup only

    private, public = [], []
    for _ in range(count):
        key, auth = ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
        point = key.public_key().public_numbers()
        raw = b"\x04" + point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")
        private.append((key.private_numbers().private_value, auth))
        public.append((b64url_encode(raw), b64url_encode(auth)))
    return private, public


def _district(box: tuple[float, float, float, float], grid: tuple[int, int], k: int) -> PolygonArea:
    cols, rows = grid
    width, height = (box[2] - box[0]) / cols, (box[3] - box[1]) / rows
    lon, lat = box[0] + (k % cols) * width, box[1] + (k // cols) * height
    ring = [(lon, lat), (lon + width, lat), (lon + width, lat + height), (lon, lat + height),
            (lon, lat)]  # fmt: skip
    return PolygonArea(coordinates=[ring])


async def build_town(
    conn: asyncpg.Connection, graph_path: Path, *, size: int, stations: int
) -> Town:
    """Write the town's graph, store its shelters and gauges (district ``k % districts`` is
    gauge ``k``'s warning area, 4 x 3 districts); return its box and gauge ids."""
    town = make_town(graph_path, seed=0, size=size)
    lon, lat = town.graph.node_lon, town.graph.node_lat
    box = (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
    await shelter_store.upsert_shelters(conn, town_shelters(town))
    grid = (4, 3)
    ids = []
    for k in range(stations):
        station = make_station(_district(box, grid, k % 12), station_id=f"soak-{k:02d}")
        station = station.model_copy(update={"area_name": f"第{k % 12 + 1}地区"})
        await store.upsert_station(conn, station)
        ids.append(station.id)
    return Town(box, tuple(ids), grid[0] * grid[1])


async def populate(
    conn: asyncpg.Connection,
    town: Town,
    count: int,
    sink_url: str,
    keys: list[tuple[str, str]],
) -> None:
    """COPY ``count`` residents spread over the town, each with a push subscription."""
    rng = np.random.default_rng(20261122)
    ids = [uuid.uuid4() for _ in range(count)]
    lon = rng.uniform(town.box[0], town.box[2], count).tolist()
    lat = rng.uniform(town.box[1], town.box[3], count).tolist()
    await copy_residents(conn, ids, lon, lat, sink_url, keys)


def warning_telegrams() -> tuple[str, ...]:
    """The real JMA warning telegrams (VPWW53/54) in the shared samples that parse."""
    found = []
    for path in sorted(_JMA_SAMPLES.glob("*VPWW5[34].xml")):
        raw = path.read_bytes()
        parse_weather(raw, load_level_map(None))
        found.append(raw.decode())
    return tuple(found)
