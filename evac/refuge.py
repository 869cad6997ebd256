"""Vertical evacuation (垂直避難): which buildings can shelter people above the water.

Where no shelter can be reached before the water does, the advice is to go up: to a floor of
a sturdy public (or designated) building whose floor stands above the expected depth with a
margin. Floors are taken as 3 m apart; the margin (1 m) covers waves, debris and the model's
error, which is why 2.4 m of water means the 3rd floor, as the guidance examples say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["FLOOR_M", "MARGIN_M", "VERTICAL_HAZARDS", "Refuge", "safe_floor"]

FLOOR_M = 3.0
MARGIN_M = 1.0
#: Hazards where going up helps: water. Not earthquakes, fires or landslides.
VERTICAL_HAZARDS = frozenset({"flood", "tsunami", "storm_surge"})


def safe_floor(depth_m: float) -> int:
    """Return the lowest floor (1 = ground) whose floor is ``MARGIN_M`` above ``depth_m``."""
    return max(2, math.ceil((max(depth_m, 0.0) + MARGIN_M) / FLOOR_M) + 1)


@dataclass(frozen=True)
class Refuge:
    """A building that may take people in upstairs: public or designated, with its floors and
    the water expected at it (None: outside the modelled zone)."""

    id: str
    name: str
    lon: float
    lat: float
    node: int
    floors: int
    flood_depth_m: float | None = None
    tsunami_depth_m: float | None = None

    def floor_for(self, hazard: str) -> int | None:
        """Return the floor to go to for ``hazard``, or None if this building is not high
        enough (or going up does not help against the hazard)."""
        if hazard not in VERTICAL_HAZARDS:
            return None
        depth = self.tsunami_depth_m if hazard == "tsunami" else self.flood_depth_m
        floor = safe_floor(depth or 0.0)
        return floor if self.floors >= floor else None


def floors_of(storeys: int | None, height_m: float | None) -> int:
    """Return a building's floors: its storeys, else estimated from its height, else 0."""
    if storeys is not None and storeys > 0:
        return storeys
    if height_m is not None and height_m > 0:
        return int(height_m // FLOOR_M)
    return 0
