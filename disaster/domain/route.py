"""A route answer: where to go, how far, how long, and why not when there is no way."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from disaster.domain.models import GeoPoint, _Record
from disaster.domain.shelter import Hazard

__all__ = ["RouteAnswer"]


class RouteAnswer(_Record):
    """The way for one resident, by one profile, to a shelter fit for the hazard.

    ``reason`` is set (and the route fields are None) when there is no way: cut off by
    closures, or no open shelter for the hazard with room left.
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
