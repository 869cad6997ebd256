"""``disaster inspect`` reads every sample by content, or says why not, never with a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from disaster.domain import InvalidInputError
from ingest.inspect import inspect_input
from tests.support import run_cli

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SAMPLES = sorted(
    [*(DATA / "jma_xml").glob("*.xml"), *(DATA / "cap" / "google_cap-library").iterdir(),
     *(DATA / "fiware").glob("*/example*")]
)  # fmt: skip


#: The samples that are invalid on purpose, feeds that only link to alerts, schemas, and
#: FIWARE alert entities (not sensor readings); everything else must be read.
REJECTED = {
    "bushfire_invalid.edxlde", "canada_errors.cap", "noaa_errors.cap", "invalid.cap",
    "weather_invalid.atom", "amber.rss", "ny_index.rss", "earthquake_index.atom",
    "weather_index.atom", "empty_weather_index.atom", "no_entries.atom", "invalid.rss",
    "invalid_element.atom", "no_id.atom", "no_title.atom", "no_link.atom", "xee.cap",
    "xee.atom", "cap11.xsd", "cap12.xsd",
}  # fmt: skip


def _rejected(path: Path) -> bool:
    return path.name in REJECTED or path.parent.name in {"Alert", "WeatherAlert"}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_is_read_or_rejected_with_a_reason(path: Path) -> None:
    if _rejected(path):
        with pytest.raises(InvalidInputError, match=r"\w"):
            inspect_input(path.read_bytes())
        return
    stream, records = inspect_input(path.read_bytes())
    assert stream == ("sensor" if path.parent.parent.name == "fiware" else "weather")
    assert records
    json.dumps(records)  # plain JSON values throughout


@pytest.mark.parametrize(
    ("body", "stream"),
    [
        ({"station_id": "g-1", "level_m": 2.5, "observed_at": "2026-06-03T05:50:00+09:00"},
         "river"),
        ({"kind": "fire", "location": {"lat": 35.66, "lon": 139.7},
          "reporter": {"role": "resident"}}, "incident"),
        ({"sensor_id": "r-1", "kind": "rain_rate", "value": 42.0,
          "observed_at": "2026-06-03T05:50:00+09:00"}, "sensor"),
    ],
)  # fmt: skip
def test_json_inputs_are_told_apart(body: dict, stream: str) -> None:
    assert inspect_input(json.dumps(body).encode())[0] == stream


async def test_the_command_prints_json_or_the_reason(tmp_path: Path) -> None:
    env = dict(os.environ)
    code, out, err = await run_cli(
        "inspect", str(DATA / "jma_xml" / "17_01_01_190529_VXWW50.xml"), env=env
    )
    assert code == 0, err
    printed = json.loads(out)
    assert printed["stream"] == "weather"
    assert printed["records"][0]["title"] == "福岡県土砂災害警戒情報"

    code, out, err = await run_cli(
        "inspect", str(DATA / "cap" / "google_cap-library" / "xee.cap"), env=env
    )
    assert (code, out) == (1, "")
    assert "rejected: unsafe XML refused" in err
    bad = tmp_path / "reading.json"
    bad.write_text('{"station_id": "g-1", "level_m": "high"}')
    code, _, err = await run_cli("inspect", str(bad), env=env)
    assert code == 1
    assert "level_m" in err
    assert "Traceback" not in err


def test_a_plateau_building_tile_is_read_as_the_import_would() -> None:
    raw = (DATA / "plateau" / "64413325_bldg_6697_op.gml").read_bytes()
    stream, buildings = inspect_input(raw)
    assert stream == "city"
    assert len(buildings) == 25
    lon, lat = buildings[0]["footprint"]["coordinates"][0][0]
    assert 141 < lon < 142
    assert 42 < lat < 43  # longitude first, as everywhere else in the system
    assert any(b["flood_depth_m"] for b in buildings)
