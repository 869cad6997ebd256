"""Parsing ``river.raw`` values: every rejection names its reason."""

import pytest

from disaster.domain import InvalidInputError
from ingest.river import check_plausible, parse_reading
from tests.support import make_station, square

GOOD = b'{"station_id": "s-1", "level_m": 3.2, "observed_at": "2026-06-03T05:50:00+09:00"}'


def test_a_good_reading_parses_with_its_offset() -> None:
    reading = parse_reading(GOOD)
    assert reading.station_id == "s-1"
    assert reading.level_m == 3.2
    assert reading.observed_at.utcoffset().total_seconds() == 9 * 3600


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty record"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'{"station_id": "s-1", "level_m": 3.2}', "observed_at: Field required"),
        (b'{"station_id": "s-1", "level_m": 3.2, "observed_at": "2026-06-03T05:50:00"}',
         "observed_at: Input should have timezone info"),
        (b'{"station_id": "s-1", "level_m": "high", "observed_at": "2026-06-03T05:50:00Z"}',
         "level_m"),
        (b'{"station_id": "s-1", "level_m": NaN, "observed_at": "2026-06-03T05:50:00Z"}',
         "finite"),
        (b'{"station_id": "", "level_m": 1, "observed_at": "2026-06-03T05:50:00Z"}',
         "station_id"),
        (b'{"station_id": "s", "level_m": 1, "observed_at": "2026-06-03T05:50:00Z", "x": 1}',
         "x: Extra inputs"),
        (b"[1, 2]", "reading: Input should be"),
        (b" " * 5000, "more than 4096"),
    ],
)  # fmt: skip
def test_malformed_readings_are_refused_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_reading(raw)
    assert reason in caught.value.reason


@pytest.mark.parametrize("level_m", [-0.01, 15.01, 1e6])
def test_levels_the_gauge_cannot_report_are_refused(level_m: float) -> None:
    station = make_station(square(139.0, 35.0), station_id="s-1")
    reading = parse_reading(GOOD).model_copy(update={"level_m": level_m})
    with pytest.raises(InvalidInputError, match="outside the gauge range"):
        check_plausible(reading, station)
