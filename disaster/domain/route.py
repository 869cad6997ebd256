"""A route answer: where to go, how far, how long, and why not when there is no way."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from disaster.domain.models import GeoPoint, _Record
from disaster.domain.shelter import Hazard

__all__ = ["RefugeTarget", "RouteAnswer"]


class RefugeTarget(_Record):
    """Vertical evacuation: the nearest building to go up in, and from which floor."""

    building_id: str
    name: str
    safe_floor: int = Field(ge=2)
    distance_m: float = Field(ge=0)
    minutes: float = Field(ge=0)
    waypoints: dict[str, Any] = Field(description="GeoJSON LineString")


class RouteAnswer(_Record):
    """The way for one resident, by one profile, to a shelter fit for the hazard.

    ``reason`` is set (and the route fields are None) when there is no way: cut off by
    closures, or no open shelter for the hazard with room left. Then, or when the shelter is
    too far to reach before the water, ``refuge`` names a building to go up in, if any.
    """

    profile: str
    hazard: Hazard
    origin: GeoPoint
    shelter_id: str | None = None
    shelter_name: str | None = None
    distance_m: float | None = Field(default=None, ge=0)
    minutes: float | None = Field(default=None, ge=0)
    waypoints: dict[str, Any] | None = Field(default=None, description="GeoJSON LineString")
    reason: str | None = None
    refuge: RefugeTarget | None = Field(
        default=None,
        description="when no shelter can be reached (in time): a building to go up in instead",
    )
