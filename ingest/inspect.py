"""``disaster inspect``: parse any supported input file by its content and normalise it
(weather XML and feeds, readings, NGSI, incidents, and CityGML building tiles).

Operators use it to check a feed before wiring it in, and the tests run it on every sample; it
answers with the same records (or the same rejection reason) the ingestors would produce.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import shapely
from pydantic import TypeAdapter

from disaster._kafka import decode_record
from disaster.domain import InvalidInputError
from disaster.domain.incident import IncidentMessage
from evac.buildings import Rejected, iter_buildings
from ingest.river import parse_reading
from ingest.sensor import parse_sensor
from ingest.weather import parse_weather

__all__ = ["inspect_input"]

_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_INCIDENT = TypeAdapter(IncidentMessage)


def inspect_input(raw: bytes) -> tuple[str, list[dict[str, Any]]]:
    """Return the stream an input belongs to and its normalised records, as JSON values.

    Raises :class:`InvalidInputError` with the reason when no reader accepts it.
    """
    head = raw.lstrip()
    if (head.startswith(b"<") or raw.startswith(_BOMS)) and b"CityModel" in raw[:4096]:
        return "city", _buildings(raw)
    if head.startswith(b"<") or raw.startswith(_BOMS):
        return "weather", [r.model_dump(mode="json") for r in parse_weather(raw)]
    data = _json(raw)
    if isinstance(data, dict) and {"station_id", "level_m"} <= data.keys():
        return "river", [parse_reading(raw).model_dump(mode="json")]
    if isinstance(data, dict) and ("reporter" in data or data.get("action") == "resolve"):
        body = raw if "action" in data else json.dumps({**data, "action": "report"}).encode()
        message = decode_record(body, _INCIDENT, "an incident report")
        return "incident", [message.model_dump(mode="json")]
    return "sensor", [r.model_dump(mode="json") for r in parse_sensor(raw)]


def _buildings(raw: bytes) -> list[dict[str, Any]]:
    """Read a CityGML tile (PLATEAU) as the building import would, refusals included."""
    found: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tile.gml"
        path.write_bytes(raw)

        def refused(r: Rejected) -> None:
            found.append({"id": r.id, "rejected": r.reason, "line": r.line})

        for b in iter_buildings(path, on_reject=refused):
            found.append({
                "id": b.id, "name": b.name, "height_m": b.height_m, "storeys": b.storeys,
                "usage": b.usage, "public": b.public, "flood_depth_m": b.flood_depth_m,
                "flood_rank": b.flood_rank, "tsunami_depth_m": b.tsunami_depth_m,
                "landslide_risk": b.landslide_risk,
                "footprint": json.loads(shapely.to_geojson(b.footprint)),
            })  # fmt: skip
    return found


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        msg = "neither XML nor JSON: nested too deeply"
        raise InvalidInputError(msg) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        msg = f"neither XML nor JSON: {exc}"
        raise InvalidInputError(msg) from None
