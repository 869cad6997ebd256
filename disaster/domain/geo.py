"""Small geodesy helpers: distances on the WGS84 sphere approximation, in metres."""

from __future__ import annotations

import math

from disaster.domain.models import GeoPoint

__all__ = ["EARTH_RADIUS_M", "degrees_box", "distance_m"]

EARTH_RADIUS_M = 6_371_009.0


def distance_m(a: GeoPoint, b: GeoPoint) -> float:
    """Return the great-circle distance between two points (haversine), in metres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def degrees_box(center: GeoPoint, radius_m: float) -> tuple[float, float, float, float]:
    """Return a lon/lat box ``(min_lon, min_lat, max_lon, max_lat)`` enclosing a circle."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = dlat / max(math.cos(math.radians(center.lat)), 1e-6)
    return (center.lon - dlon, center.lat - dlat, center.lon + dlon, center.lat + dlat)
