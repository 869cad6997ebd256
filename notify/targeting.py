"""Geofence targeting: which registered points lie inside an alert's area.

For registered points the overshoot is exactly zero: a point is in or out, and a point on the
boundary counts as in, because missing a resident is worse than one extra message.
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

__all__ = ["points_inside"]


def points_inside(
    area: shapely.Polygon, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Return a mask of the points (degrees) inside ``area`` or on its boundary."""
    shapely.prepare(area)
    return shapely.intersects_xy(area, np.asarray(lon, np.float64), np.asarray(lat, np.float64))
