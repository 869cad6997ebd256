"""Domain records refuse geometry and gauges that would make targeting or alerting wrong."""

import pytest
from pydantic import ValidationError

from disaster.domain import PolygonArea, Station
from tests.support import make_station, square


def test_an_open_ring_is_refused() -> None:
    with pytest.raises(ValidationError, match="first equal to the last"):
        PolygonArea(coordinates=[[(139.0, 35.0), (139.1, 35.0), (139.1, 35.1), (139.0, 35.1)]])


def test_a_self_intersecting_ring_is_refused() -> None:
    bowtie = [(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 0.0)]
    with pytest.raises(ValidationError, match="not valid"):
        PolygonArea(coordinates=[bowtie])


def test_latitude_first_positions_out_of_range_are_refused() -> None:
    with pytest.raises(ValidationError, match="lon, lat"):
        PolygonArea(coordinates=[[(35.0, 139.0), (35.1, 139.0), (35.1, 139.1), (35.0, 139.0)]])


def test_a_gauge_range_must_enclose_the_thresholds() -> None:
    station = make_station(square(139.0, 35.0))
    with pytest.raises(ValidationError, match="enclose"):
        Station.model_validate({**station.model_dump(), "gauge_max_m": 4.0})


def test_real_gauges_below_zero_are_expressible() -> None:
    """MLIT reports tidal gauges at -1.54 m (2026-06-03 crawl): the range is per station."""
    station = make_station(square(139.0, 35.0))
    tidal = Station.model_validate({**station.model_dump(), "gauge_min_m": -5.0})
    assert tidal.gauge_min_m == -5.0
