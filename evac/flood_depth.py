"""The expected water at each building from flood-extent polygons: a pure, vectorised kernel.

A building is in a polygon when its footprint touches it at all, not only when its centre
does: the advice is conservative, and water reaching one wall reaches the ground floor.
Where polygons overlap (two rivers, two scales) the deepest wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import shapely

__all__ = ["ExtentDepths", "extent_depths"]


class ExtentDepths(NamedTuple):
    """Per building: the deepest advised depth (metres, NaN outside every polygon) and the
    highest depth rank (0 outside)."""

    depth_m: npt.NDArray[np.float64]
    rank: npt.NDArray[np.int16]


def extent_depths(
    footprints: Sequence[shapely.Geometry],
    zones: Sequence[shapely.Geometry],
    depth_m: Sequence[float],
    rank: Sequence[int],
) -> ExtentDepths:
    """Return the depth and rank each footprint is exposed to.

    Parameters
    ----------
    footprints
        Building outlines, lon/lat degrees.
    zones
        Extent polygons, lon/lat degrees; ``depth_m[k]`` and ``rank[k]`` are zone k's.
    """
    if not len(zones) == len(depth_m) == len(rank):
        msg = f"{len(zones)} zones for {len(depth_m)} depths and {len(rank)} ranks"
        raise ValueError(msg)
    out_depth = np.full(len(footprints), np.nan)
    out_rank = np.zeros(len(footprints), dtype=np.int16)
    if not len(footprints) or not len(zones):
        return ExtentDepths(out_depth, out_rank)
    tree = shapely.STRtree(np.asarray(zones, dtype=object))
    building, zone = tree.query(np.asarray(footprints, dtype=object), predicate="intersects")
    np.fmax.at(out_depth, building, np.asarray(depth_m, dtype=np.float64)[zone])
    np.maximum.at(out_rank, building, np.asarray(rank, dtype=np.int16)[zone])
    return ExtentDepths(out_depth, out_rank)
