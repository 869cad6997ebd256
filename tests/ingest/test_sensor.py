"""Parsing ``sensor.raw`` values and judging readings against the sensor thresholds.

The FIWARE cases read the smart-data-models examples as published; where the upstream examples
disagree with each other (ids, values), the tests say so rather than hide it.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disaster.domain.errors import InvalidInputError
from disaster.domain.models import GeoPoint
from disaster.domain.sensor import SensorReading
from ingest.sensor import (
    MAX_SENSOR_BYTES,
    SensorHazard,
    SensorThresholds,
    parse_sensor,
    sensor_hazard,
)

FIWARE = Path(__file__).resolve().parents[3] / "shared" / "data" / "fiware"

# The upstream WaterObserved examples give Nice airport as [43.66481, 7.196545]: lat, lon, the
# reverse of GeoJSON. A swapped pair that is still in range cannot be told from a real point, so
# the parser reads it as GeoJSON says (a point off Somalia). This pins that known-bad example.
NICE_AS_PUBLISHED = GeoPoint(lat=7.196545, lon=43.66481)
VALLADOLID = GeoPoint(lat=41.640833333, lon=-4.754444444)
WATER_AT = datetime(2020, 3, 17, 8, 45, 0, 209000, tzinfo=UTC)
WEATHER_AT = datetime(2016, 11, 30, 7, 0, tzinfo=UTC)
FLOOD_AT = datetime(2020, 9, 16, 13, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
LD_WEATHER_ID = (
    "urn:ngsi-ld:WeatherObserved:Spain-WeatherObserved-Valladolid-2016-11-30T07:00:00.00Z"
)
FLOOD_ID = "urn:ngsi-ld:FloodMonitoring:Pune-NoiseLevelObserved"

# file -> (sensor_id, source, observed_at, location, [(kind, value), ...]), read from the files.
# WaterObserved: waterLevel (2.4 m) wins over height (3.52 m) where both are present.
# WeatherObserved: precipitation is mm over the period -> rain_accumulated; streamGauge 50 cm.
EXPECTED: dict[str, tuple[str, str, datetime, GeoPoint | None, list[tuple[str, float]]]] = {
    "WaterObserved/example.json": (
        "WaterObserved:MNCA-001", "ngsi-v2", WATER_AT, NICE_AS_PUBLISHED, [("water_level", 2.4)],
    ),
    "WaterObserved/example-normalized.json": (
        "WaterObserved:MNCA-001", "ngsi-v2", WATER_AT, NICE_AS_PUBLISHED, [("water_level", 2.4)],
    ),
    "WaterObserved/example.jsonld": (
        "uri:ngsi:WaterObserved:MNCA-001", "ngsi-ld", WATER_AT, NICE_AS_PUBLISHED,
        [("water_level", 3.52)],
    ),
    # dateObserved is (wrongly) a Relationship here; its "object" is still read as the time.
    "WaterObserved/example-normalized.jsonld": (
        "urn:ngsi:WaterObserved:MNCA-001", "ngsi-ld", WATER_AT, NICE_AS_PUBLISHED,
        [("water_level", 3.52)],
    ),
    "WaterObserved/example-geojsonfeature.json": (
        "uri:ngsi:WaterObserved:MNCA-001", "ngsi-ld", WATER_AT, NICE_AS_PUBLISHED,
        [("water_level", 3.52)],
    ),
    "WeatherObserved/example.json": (
        "Spain-WeatherObserved-Valladolid-2016-11-30T07:00:00.00Z", "ngsi-v2", WEATHER_AT,
        VALLADOLID, [("rain_accumulated", 0.0), ("water_level", 0.5)],
    ),
    "WeatherObserved/example-normalized.json": (
        "Valladolid.2016-11-30T07-00-00.00Z", "ngsi-v2", WEATHER_AT, VALLADOLID,
        [("rain_accumulated", 0.1), ("water_level", 0.5)],
    ),
    "WeatherObserved/example.jsonld": (
        LD_WEATHER_ID, "ngsi-ld", WEATHER_AT, VALLADOLID,
        [("rain_accumulated", 0.0), ("water_level", 0.5)],
    ),
    # dateObserved is a JSON-LD typed literal {"@type": "DateTime", "@value": ...} here.
    "WeatherObserved/example-normalized.jsonld": (
        LD_WEATHER_ID, "ngsi-ld", WEATHER_AT, VALLADOLID,
        [("rain_accumulated", 0.0), ("water_level", 0.5)],
    ),
    # FloodMonitoring fits water_level (currentLevel, m above the river bed), so it is supported.
    "FloodMonitoring/example.json": (
        FLOOD_ID, "ngsi-ld", FLOOD_AT, None, [("water_level", 0.98)],
    ),
    "FloodMonitoring/example.jsonld": (
        FLOOD_ID, "ngsi-ld", FLOOD_AT, None, [("water_level", 0.98)],
    ),
    "FloodMonitoring/example-normalized.json": (
        FLOOD_ID, "ngsi-ld", FLOOD_AT, None, [("water_level", 1.98)],
    ),
    "FloodMonitoring/example-normalized.jsonld": (
        FLOOD_ID, "ngsi-ld", FLOOD_AT, None, [("water_level", 1.98)],
    ),
}  # fmt: skip

# Key-values and normalized forms of the same model; fields the upstream examples disagree on
# (the ids "uri:" vs "urn:", precipitation 0 vs 0.1, currentLevel 0.98 vs 1.98) are left out.
SAME_READINGS = [
    ("WaterObserved/example.json", "WaterObserved/example-normalized.json", set()),
    ("WaterObserved/example.jsonld", "WaterObserved/example-geojsonfeature.json", set()),
    ("WaterObserved/example.jsonld", "WaterObserved/example-normalized.jsonld", {"sensor_id"}),
    ("WeatherObserved/example.jsonld", "WeatherObserved/example-normalized.jsonld", set()),
    ("WeatherObserved/example.json", "WeatherObserved/example-normalized.json",
     {"sensor_id", "value"}),
    ("FloodMonitoring/example.json", "FloodMonitoring/example.jsonld", set()),
    ("FloodMonitoring/example-normalized.json", "FloodMonitoring/example-normalized.jsonld", set()),
    ("FloodMonitoring/example.json", "FloodMonitoring/example-normalized.json", {"value"}),
]  # fmt: skip

KEY_VALUES = [
    "WaterObserved/example.json",
    "WaterObserved/example.jsonld",
    "WeatherObserved/example.json",
    "WeatherObserved/example.jsonld",
    "FloodMonitoring/example.json",
]

AT = "2026-06-03T05:50:00+09:00"


def sample(name: str) -> dict[str, Any]:
    return json.loads((FIWARE / name).read_bytes())


def encode(doc: object) -> bytes:
    return json.dumps(doc).encode()


def reading(**fields: Any) -> dict[str, Any]:
    return {"sensor_id": "rain-1", "kind": "rain_rate", "value": 12.5, "observed_at": AT} | fields


def water(**attributes: Any) -> dict[str, Any]:
    """A minimal key-values WaterObserved entity in Japan, GeoJSON order."""
    base = {
        "id": "urn:ngsi-ld:WaterObserved:shibuya-1",
        "type": "WaterObserved",
        "dateObserved": "2026-06-03T05:50:00+09:00",
        "location": {"type": "Point", "coordinates": [139.7016, 35.6580]},
        "height": 1.25,
    }
    return {k: v for k, v in (base | attributes).items() if v is not None}


def reason_for(raw: bytes | None) -> str:
    with pytest.raises(InvalidInputError) as caught:
        parse_sensor(raw)
    return caught.value.reason


# --- the published FIWARE examples ---------------------------------------------------------------


@pytest.mark.parametrize("claimed", [None, "json", "mqtt"])
def test_a_plain_reading_is_labelled_json_whatever_it_claims(claimed: str | None) -> None:
    body = {"sensor_id": "rain-1", "kind": "rain_rate", "value": 12.5,
            "observed_at": "2026-08-01T00:00:00+09:00"}  # fmt: skip
    if claimed is not None:
        body["source"] = claimed
    [reading] = parse_sensor(json.dumps(body).encode())
    assert (reading.sensor_id, reading.value, reading.source) == ("rain-1", 12.5, "json")


def test_every_published_observation_example_is_covered() -> None:
    published = {
        f"{folder}/{path.name}"
        for folder in ("WaterObserved", "WeatherObserved", "FloodMonitoring")
        for path in (FIWARE / folder).glob("example*.json*")
    }
    assert published == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_published_example_gives_the_readings_read_from_the_file(name: str) -> None:
    sensor_id, source, observed_at, location, values = EXPECTED[name]
    readings = parse_sensor((FIWARE / name).read_bytes())
    assert [(r.kind, r.value) for r in readings] == [(k, pytest.approx(v)) for k, v in values]
    for got in readings:
        assert got.sensor_id == sensor_id
        assert got.source == source
        assert got.observed_at == observed_at
        assert got.observed_at.utcoffset() == observed_at.utcoffset()
        assert got.location == location


@pytest.mark.parametrize(("first", "second", "disagree"), SAME_READINGS)
def test_key_values_and_normalized_examples_give_the_same_readings(
    first: str, second: str, disagree: set[str]
) -> None:
    def dumped(name: str) -> list[dict[str, Any]]:
        return [r.model_dump(exclude=disagree) for r in parse_sensor((FIWARE / name).read_bytes())]

    assert dumped(first) == dumped(second)


def normalized_ld(entity: dict[str, Any]) -> dict[str, Any]:
    def wrap(name: str, value: object) -> dict[str, Any]:
        return {"type": "GeoProperty" if name == "location" else "Property", "value": value}

    return {k: v if k in ("id", "type", "@context") else wrap(k, v) for k, v in entity.items()}


def normalized_v2(entity: dict[str, Any]) -> dict[str, Any]:
    def wrap(name: str, value: object) -> dict[str, Any]:
        kind = "geo:json" if name == "location" else type(value).__name__
        return {"type": kind, "value": value, "metadata": {}}

    return {
        k: v if k in ("id", "type") else wrap(k, v) for k, v in entity.items() if k != "@context"
    }


@pytest.mark.parametrize("name", KEY_VALUES)
@pytest.mark.parametrize("normalize", [normalized_ld, normalized_v2])
def test_normalizing_a_key_values_example_changes_no_reading(name: str, normalize: Any) -> None:
    entity = sample(name)
    expected = [r.model_dump(exclude={"source"}) for r in parse_sensor(encode(entity))]
    got = [r.model_dump(exclude={"source"}) for r in parse_sensor(encode(normalize(entity)))]
    assert got == expected


def test_normalized_ld_is_labelled_ld_and_normalized_v2_is_labelled_v2() -> None:
    entity = water(id="WaterObserved:kv-1")
    assert parse_sensor(encode(normalized_ld(entity)))[0].source == "ngsi-ld"
    assert parse_sensor(encode(normalized_v2(entity)))[0].source == "ngsi-v2"


@pytest.mark.parametrize(
    "name",
    [
        "Alert/example.json",
        "Alert/example.jsonld",
        "Alert/example-normalized.json",
        "Alert/example-geojsonfeature.json",
        "WeatherAlert/example.json",
        "WeatherAlert/example-normalized.jsonld",
    ],
)
def test_alert_examples_are_not_sensor_readings(name: str) -> None:
    entity_type = name.split("/", maxsplit=1)[0]
    assert f"unknown entity type '{entity_type}'" in reason_for((FIWARE / name).read_bytes())


# --- envelopes -----------------------------------------------------------------------------------


def test_an_ngsi_ld_notification_gives_the_readings_of_all_its_entities_in_order() -> None:
    data = [sample("WaterObserved/example.jsonld"), sample("WeatherObserved/example.jsonld")]
    notification = {"id": "urn:ngsi-ld:Notification:1", "type": "Notification", "data": data}
    readings = parse_sensor(encode(notification))
    assert [(r.sensor_id, r.kind) for r in readings] == [
        ("uri:ngsi:WaterObserved:MNCA-001", "water_level"),
        (LD_WEATHER_ID, "rain_accumulated"),
        (LD_WEATHER_ID, "water_level"),
    ]
    assert {r.source for r in readings} == {"ngsi-ld"}


def test_an_ngsi_v2_notification_and_a_plain_array_of_entities_are_accepted() -> None:
    entity = sample("WaterObserved/example-normalized.json")
    from_notification = parse_sensor(encode({"subscriptionId": "5a", "data": [entity]}))
    from_array = parse_sensor(encode([entity, water()]))
    assert from_notification == from_array[:1]
    assert from_array[1].sensor_id == "urn:ngsi-ld:WaterObserved:shibuya-1"


def test_a_feature_collection_is_read_feature_by_feature() -> None:
    feature = sample("WaterObserved/example-geojsonfeature.json")
    readings = parse_sensor(encode({"type": "FeatureCollection", "features": [feature, feature]}))
    assert [r.value for r in readings] == [3.52, 3.52]


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"type": "Notification", "data": []}, "notification data is empty"),
        ({"type": "Notification"}, "notification data must be an array"),
        ({"type": "Notification", "data": [water(), {"id": "Alert:1", "type": "Alert"}]},
         "item 1: unknown entity type 'Alert'"),
        ({"type": "FeatureCollection", "features": {}}, "features must be an array"),
        ({"type": "Feature", "id": "x", "properties": None}, "without an object of properties"),
    ],
)  # fmt: skip
def test_bad_envelopes_are_refused_whole(doc: object, reason: str) -> None:
    assert reason in reason_for(encode(doc))


# --- units, times and coordinates ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "kind", "value"),
    [
        ({"height": {"type": "Property", "value": 35, "unitCode": "CMT"}}, "water_level", 0.35),
        ({"height": {"type": "Property", "value": 350, "unitCode": "MMT"}}, "water_level", 0.35),
        ({"height": None, "waterLevel": {"type": "Number", "value": 350,
          "metadata": {"unitCode": {"type": "Text", "value": "MMT"}}}}, "water_level", 0.35),
        ({"height": {"type": "Property", "value": 2, "unitCode": "MTR"}}, "water_level", 2.0),
    ],
)  # fmt: skip
def test_unit_codes_convert_water_levels_to_metres(
    attributes: dict[str, Any], kind: str, value: float
) -> None:
    (got,) = parse_sensor(encode(water(**attributes)))
    assert (got.kind, got.value, got.unit) == (kind, pytest.approx(value), "m")


@pytest.mark.parametrize(
    ("precipitation", "kind", "value"),
    [
        (12.5, "rain_accumulated", 12.5),  # schema: litres per m² over the period, i.e. mm
        ({"type": "Property", "value": 1.5, "unitCode": "CMT"}, "rain_accumulated", 15.0),
        ({"type": "Property", "value": 42, "unitCode": "H67"}, "rain_rate", 42.0),  # mm/h
        ({"type": "Number", "value": 42, "metadata": {"unitCode": {"value": "H67"}}},
         "rain_rate", 42.0),
    ],
)  # fmt: skip
def test_precipitation_is_an_amount_unless_its_unit_is_per_hour(
    precipitation: object, kind: str, value: float
) -> None:
    entity = {"id": "WeatherObserved:tokyo-1", "type": "WeatherObserved",
              "dateObserved": AT, "precipitation": precipitation}  # fmt: skip
    (got,) = parse_sensor(encode(entity))
    assert (got.kind, got.value) == (kind, pytest.approx(value))


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"height": {"type": "Property", "value": 1, "unitCode": "H67"}},
         "height: unit code 'H67' is not supported (expected MTR, CMT, MMT)"),
        ({"height": {"type": "Property", "value": 1, "unitCode": "FOT"}}, "unit code 'FOT'"),
        ({"height": {"type": "Property", "value": 1, "unitCode": ["MTR"]}}, "unit code a JSON"),
    ],
)  # fmt: skip
def test_unknown_unit_codes_are_refused_not_guessed(
    attributes: dict[str, Any], reason: str
) -> None:
    assert reason in reason_for(encode(water(**attributes)))


def test_a_property_observed_at_wins_over_the_entity_observation_time() -> None:
    height = {"type": "Property", "value": 1.0, "observedAt": "2026-06-03T06:00:00+09:00"}
    (got,) = parse_sensor(encode(water(height=height)))
    assert got.observed_at == datetime(2026, 6, 2, 21, 0, tzinfo=UTC)
    (alone,) = parse_sensor(encode(water(height=height, dateObserved=None)))
    assert alone.observed_at == got.observed_at


def test_japanese_coordinates_in_geojson_order_are_read_as_lon_lat() -> None:
    (got,) = parse_sensor(encode(water()))
    assert got.location == GeoPoint(lat=35.6580, lon=139.7016)
    with_altitude = {"type": "Point", "coordinates": [139.7016, 35.6580, 31.5]}
    assert parse_sensor(encode(water(location=with_altitude)))[0].location == got.location


def test_the_nice_example_with_swapped_coordinates_is_read_as_geojson_says() -> None:
    """Nice airport is at lat 43.66, lon 7.20; the example's [43.66481, 7.196545] is in range as
    [lon, lat], so it cannot be detected and lands off Somalia. Only out-of-range pairs fail."""
    (got,) = parse_sensor((FIWARE / "WaterObserved/example.json").read_bytes())
    assert got.location == GeoPoint(lat=7.196545, lon=43.66481)


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ({"type": "Point", "coordinates": [35.6580, 139.7016]},
         "location [35.658, 139.7016] is not GeoJSON [lon, lat] in degrees"),
        ({"type": "Polygon", "coordinates": [[[139.7, 35.6]]]}, "location must be a GeoJSON Point"),
        ({"type": "Point", "coordinates": [139.7]}, "must be [lon, lat] or [lon, lat, altitude]"),
        ({"type": "Point", "coordinates": ["139.7", 35.6]}, "location: expected a number"),
        ({"type": "GeoProperty", "value": "35.6,139.7"}, "location must be a GeoJSON Point"),
    ],
)  # fmt: skip
def test_bad_locations_are_refused_not_swapped(location: object, reason: str) -> None:
    assert reason in reason_for(encode(water(location=location)))


# --- plain JSON readings -------------------------------------------------------------------------


def test_a_plain_reading_parses_with_its_offset_and_location() -> None:
    (got,) = parse_sensor(encode(reading(location={"lat": 35.68, "lon": 139.76})))
    assert got == SensorReading(
        sensor_id="rain-1",
        kind="rain_rate",
        value=12.5,
        observed_at=datetime(2026, 6, 2, 20, 50, tzinfo=UTC),
        location=GeoPoint(lat=35.68, lon=139.76),
        source="json",
    )
    assert got.observed_at.utcoffset() == timedelta(hours=9)


def test_an_array_of_plain_readings_gives_them_in_order_labelled_json() -> None:
    doc = [reading(), reading(sensor_id="kw-3", kind="water_depth", value=0.2, source="mqtt")]
    readings = parse_sensor(encode(doc))
    assert [(r.sensor_id, r.kind, r.value, r.source) for r in readings] == [
        ("rain-1", "rain_rate", 12.5, "json"),
        ("kw-3", "water_depth", 0.2, "json"),  # the parser knows the wire format better
    ]


def test_a_reading_padded_to_exactly_the_size_limit_is_accepted() -> None:
    raw = encode(reading())
    assert len(parse_sensor(raw + b" " * (MAX_SENSOR_BYTES - len(raw)))) == 1


NAN_VALUE = (
    b'{"sensor_id": "r", "kind": "tilt", "value": NaN, "observed_at": "2026-06-03T05:50:00Z"}'
)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "empty record"),
        (b"", "not JSON"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (NAN_VALUE, "not JSON: NaN is not a JSON number"),
        (NAN_VALUE.replace(b"NaN", b"-Infinity"), "not JSON: -Infinity is not a JSON number"),
        (NAN_VALUE.replace(b"NaN", b"1e400"), "value: Value error, value must be a finite number"),
        (NAN_VALUE.replace(b"NaN", b"9" * 400), "value: Input should be a valid number"),
        (NAN_VALUE.replace(b"NaN", b"9" * 5000), "not JSON"),
        (encode(reading(observed_at=None)), "observed_at: Input should be a valid datetime"),
        (encode({k: v for k, v in reading().items() if k != "observed_at"}),
         "observed_at: Field required"),
        (encode(reading(observed_at="2026-06-03T05:50:00")),
         "observed_at: Input should have timezone info"),
        (encode(reading(kind="snow_depth")), "kind: Input should be 'rain_rate'"),
        (encode(reading(value="heavy")), "value: Input should be a valid number"),
        (encode(reading(sensor_id="")), "sensor_id: String should have at least 1 character"),
        (encode(reading(extra=1)), "extra: Extra inputs are not permitted"),
        (encode(reading(location={"lat": 139.76, "lon": 35.68})), "location.lat"),
        (encode(reading(**{f"x{i}": i for i in range(50)})), "and 47 more"),
        (b"42", "expected a JSON object or array, got 42"),
        (b"[]", "array is empty: no readings"),
        (b"[1]", "item 0: expected an object, got 1"),
        (encode([reading(), reading(value=None)]), "item 1: value: Input should be a valid number"),
        (b"{}", "neither a sensor reading"),
        (b"[" * 100_000, "not JSON: nested too deeply"),
        (b" " * (MAX_SENSOR_BYTES + 1), "more than 1048576 (1 MiB)"),
    ],
)  # fmt: skip
def test_malformed_readings_are_refused_with_a_reason(raw: bytes | None, reason: str) -> None:
    assert reason in reason_for(raw)


@pytest.mark.parametrize(
    ("entity", "reason"),
    [
        (water(id=None), "entity without a string id"),
        (water(id=7), "entity without a string id"),
        (water(type="water_observed"), "unknown entity type 'water_observed'"),
        (water(type=["WaterObserved"]), "unknown entity type a JSON array"),
        (water(height=None, flow=12),
         "no measurable quantity in entity 'urn:ngsi-ld:WaterObserved:shibuya-1': "
         "expected one of waterLevel, height"),
        (water(height="3.5"), "height: expected a number, got '3.5'"),
        (water(height=True), "height: expected a number, got True"),
        (water(height=10**400), "height: value must be a finite number"),
        (water(dateObserved=None), "shibuya-1': no observation time (dateObserved or observedAt)"),
        (water(dateObserved="2026-06-03T05:50:00"), "observed_at: Input should have timezone info"),
        (water(dateObserved="yesterday"), "observed_at: Input should be a valid datetime"),
        (water(id="WaterObserved:渋谷 1"), "sensor_id: String should match pattern"),
        (water(height={"type": "Property", "value": [1.0, 2.0]}), "expected a number, got a JSON"),
    ],
)  # fmt: skip
def test_malformed_entities_are_refused_with_a_reason(entity: dict[str, Any], reason: str) -> None:
    assert reason in reason_for(encode(entity))


def test_a_reason_is_short_however_long_the_input() -> None:
    assert len(reason_for(encode(water(type="W" * 100_000)))) < 200
    assert len(reason_for(encode(reading(**{"k" * 10_000: 1, "v" * 10_000: 2})))) < 300


# --- thresholds ----------------------------------------------------------------------------------


def at(kind: str, value: float) -> SensorReading:
    return SensorReading(sensor_id="s-1", kind=kind, value=value, observed_at=datetime.now(UTC))


@pytest.mark.parametrize(
    ("kind", "value", "severity", "threshold"),
    [
        ("rain_rate", 29.9, None, None),
        ("rain_rate", 30.0, "warning", 30.0),  # 激しい雨
        ("rain_rate", 49.9, "warning", 30.0),
        ("rain_rate", 50.0, "danger", 50.0),  # 非常に激しい雨
        ("rain_accumulated", 99.9, None, None),
        ("rain_accumulated", 100.0, "warning", 100.0),
        ("rain_accumulated", 200.0, "danger", 200.0),
        ("water_depth", 0.09, None, None),
        ("water_depth", 0.1, "warning", 0.1),
        ("water_depth", 0.3, "danger", 0.3),
        ("seismic_intensity", 4.49, None, None),
        ("seismic_intensity", 4.5, "warning", 4.5),  # 震度5弱
        ("seismic_intensity", 5.49, "warning", 4.5),
        ("seismic_intensity", 5.5, "danger", 5.5),  # 震度6弱
        ("tilt", 0.99, None, None),
        ("tilt", 1.0, "warning", 1.0),
        ("tilt", 3.0, "danger", 3.0),
        ("water_level", 1000.0, None, None),  # per-station thresholds, not per kind
    ],
)
def test_default_thresholds_are_inclusive(
    kind: str, value: float, severity: str | None, threshold: float | None
) -> None:
    hazard = sensor_hazard(at(kind, value))
    if severity is None:
        assert hazard is None
    else:
        closes_road = kind == "water_depth" and severity == "danger"
        assert hazard == SensorHazard(kind, severity, value, threshold, closes_road)


@pytest.mark.parametrize("kind", ["rain_rate", "rain_accumulated", "water_depth", "tilt"])
@pytest.mark.parametrize("value", [0.1, 0.3, 1.0, 100.0, 1000.0])
def test_only_water_over_a_road_at_danger_depth_closes_the_road(kind: str, value: float) -> None:
    hazard = sensor_hazard(at(kind, value))
    closes = hazard is not None and hazard.closes_road
    assert closes == (kind == "water_depth" and value >= 0.3)


def test_custom_thresholds_replace_the_defaults() -> None:
    thresholds = SensorThresholds(water_depth_m=(0.2, 0.5))
    assert sensor_hazard(at("water_depth", 0.15), thresholds) is None
    hazard = sensor_hazard(at("water_depth", 0.3), thresholds)
    assert hazard == SensorHazard("water_depth", "warning", 0.3, 0.2, closes_road=False)
    assert sensor_hazard(at("rain_rate", 30.0), thresholds) is not None  # the others keep defaults


@pytest.mark.parametrize(
    "fields",
    [{"tilt_deg": (3.0, 1.0)}, {"rain_rate_mm_h": (float("nan"), 50.0)},
     {"water_depth_m": (0.1, float("inf"))}],
)  # fmt: skip
def test_thresholds_that_could_never_warn_first_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be finite and at most danger"):
        SensorThresholds(**fields)


def test_thresholds_and_hazards_are_frozen() -> None:
    hazard = sensor_hazard(at("tilt", 5.0))
    assert hazard is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        hazard.severity = "warning"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        SensorThresholds().tilt_deg = (0.0, 0.0)  # type: ignore[misc]


# --- nothing but InvalidInputError, whatever the bytes -------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
ATTRIBUTES = [
    "id", "type", "@context", "location", "dateObserved", "observationDateTime", "height",
    "waterLevel", "precipitation", "streamGauge", "currentLevel", "flow", "data", "features",
    "properties", "geometry", "sensor_id", "kind", "value", "observed_at", "subscriptionId",
]  # fmt: skip
WRAPPERS = st.fixed_dictionaries(
    {"type": st.sampled_from(["Property", "GeoProperty", "Relationship", "Number", "geo:json"]),
     "value": JSON_VALUES},
    optional={"unitCode": st.sampled_from(["MTR", "CMT", "MMT", "H67", "FOT"]) | JSON_VALUES,
              "observedAt": st.sampled_from([AT, "2026-06-03T05:50:00"]) | JSON_VALUES,
              "metadata": JSON_VALUES, "object": JSON_VALUES},
)  # fmt: skip
ENTITIES = st.dictionaries(
    st.sampled_from(ATTRIBUTES),
    JSON_VALUES | WRAPPERS | st.sampled_from(["WaterObserved", "WeatherObserved", "Notification"]),
    max_size=8,
)
SAMPLES = st.sampled_from(sorted(EXPECTED))
FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def parses_or_refuses(raw: bytes) -> None:
    """Either readings or a reason, never both, never neither, never another exception."""
    try:
        readings, reason = parse_sensor(raw), ""
    except InvalidInputError as exc:
        readings, reason = [], exc.reason
    assert bool(readings) != bool(reason)
    assert all(isinstance(r, SensorReading) for r in readings)


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_ever_raise_invalid_input(raw: bytes) -> None:
    parses_or_refuses(raw)


@FUZZ
@given(JSON_VALUES)
def test_arbitrary_json_only_ever_raises_invalid_input(doc: object) -> None:
    parses_or_refuses(json.dumps(doc).encode())


@FUZZ
@given(ENTITIES)
def test_entity_shaped_json_only_ever_raises_invalid_input(entity: dict[str, Any]) -> None:
    parses_or_refuses(encode(entity))
    parses_or_refuses(encode({"type": "Notification", "data": [entity]}))


@FUZZ
@given(SAMPLES, st.sampled_from(ATTRIBUTES), JSON_VALUES | WRAPPERS)
def test_mutated_examples_only_ever_raise_invalid_input(name: str, key: str, value: object) -> None:
    doc = sample(name)
    (doc.get("properties", doc) if isinstance(doc.get("properties"), dict) else doc)[key] = value
    parses_or_refuses(encode(doc))
