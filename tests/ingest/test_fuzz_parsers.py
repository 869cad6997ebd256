"""Hostile input on every stream parser: fuzzed and hand-made attacks each end in
:class:`InvalidInputError` with a reason (what the DLQ records), never any other exception.

The XML parsers (JMA, CAP) and the NGSI reader have their own fuzzers next to their tests; here
the same contract is checked where they meet, at :func:`inspect_input` (the dispatch the CLI uses)
and :func:`parse_weather`, and for the readers that had none (river readings, incident messages).
Then the named attacks, each with the reason it must give, and one trip through Kafka to show
the reasons land in ``rejected_inputs`` and on the DLQ topics.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disaster import topics
from disaster._kafka import decode_record
from disaster.domain import InvalidInputError
from disaster.domain.incident import incident_message_adapter
from disaster.services import Running
from ingest._xml import MAX_XML_BYTES
from ingest.inspect import inspect_input
from ingest.river import parse_reading
from ingest.sensor import MAX_SENSOR_BYTES, parse_sensor
from ingest.weather import parse_weather
from tests.support import byte_mutations, wait_until

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FUZZ = settings(
    max_examples=200, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip

READING = {"station_id": "g-1", "level_m": 2.5, "observed_at": "2026-06-03T05:50:00+09:00"}
REPORT = {"action": "report", "kind": "flooding", "location": {"lat": 35.66, "lon": 139.7},
          "reporter": {"role": "resident"}, "description": "道路が冠水"}  # fmt: skip
SEEDS = [
    (DATA / "jma_xml" / "17_02_02_190529_VXWW50.xml").read_bytes(),
    (DATA / "cap" / "google_cap-library" / "earthquake.atom").read_bytes(),
    (DATA / "cap" / "google_cap-library" / "bushfire_valid.edxlde").read_bytes(),
    (DATA / "fiware" / "WaterObserved" / "example-normalized.jsonld").read_bytes(),
    (DATA / "fiware" / "WeatherObserved" / "example-normalized.json").read_bytes(),
    json.dumps(READING).encode(),
    json.dumps(REPORT, ensure_ascii=False).encode(),
]


def _incident(raw: bytes | None) -> Any:
    return decode_record(raw, incident_message_adapter(), "an incident message")


PARSERS: dict[str, Callable[[bytes], object]] = {
    "inspect": inspect_input, "weather": parse_weather, "reading": parse_reading,
    "sensor": parse_sensor, "incident": _incident,
}  # fmt: skip


def refusal(parse: Callable[[bytes], object], raw: bytes) -> str | None:
    """The contract: a result, or InvalidInputError with a reason; return the reason."""
    try:
        parse(raw)
    except InvalidInputError as exc:
        reason = exc.reason
    else:
        return None
    assert reason.strip(), "a rejection must say why"
    return reason


# --- fuzzing -----------------------------------------------------------------------------------

_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=12)
    | st.floats(allow_nan=True, allow_infinity=True)
)  # fmt: skip
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip
_COORD = st.floats(-400, 400) | st.sampled_from([math.nan, math.inf, -math.inf, 90.0, -180.0])
_RING = st.lists(st.tuples(_COORD, _COORD), max_size=7).map(lambda r: [*r, *r[:1]])


def _dumps(value: object) -> bytes:
    """JSON as a careless client writes it: NaN and Infinity included."""
    return json.dumps(value, ensure_ascii=False).encode()


@st.composite
def near_valid(draw: st.DrawFn, base: dict[str, Any], fields: dict[str, Any]) -> bytes:
    """A valid record with some fields replaced, dropped or given arbitrary JSON: the values
    reach the model's validators instead of stopping at the first type check."""
    record = dict(base)
    for name in draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3)):
        choice = draw(st.integers(0, 2))
        if choice == 0:
            record.pop(name, None)
        else:
            record[name] = draw(fields[name] if choice == 1 else _JSON)
    return _dumps(record)


_READING_FIELDS = {
    "station_id": st.text(max_size=210), "level_m": st.floats() | st.integers(),
    "observed_at": st.text(max_size=40) | st.datetimes().map(str), "extra": _JSON,
}  # fmt: skip
_POINT = st.fixed_dictionaries({"lat": _COORD, "lon": _COORD})
_REPORT_FIELDS = {
    "action": st.sampled_from(["report", "resolve", "", "REPORT"]),
    "kind": st.sampled_from(["fire", "flooding", "blocked_road", "meteor"]),
    "location": _POINT, "line": st.lists(_POINT, max_size=4),
    "area": st.fixed_dictionaries({"type": st.just("Polygon"),
                                   "coordinates": st.lists(_RING, max_size=2)}),
    "reported_at": st.text(max_size=30), "report_id": st.text(max_size=40) | st.uuids().map(str),
    "incident_id": st.uuids().map(str), "reporter": _JSON, "severity": st.text(max_size=10),
}  # fmt: skip


@FUZZ
@given(byte_mutations(SEEDS))
def test_mutated_samples_of_every_format_are_read_or_refused_by_inspect(raw: bytes) -> None:
    refusal(inspect_input, raw)


@FUZZ
@given(byte_mutations(SEEDS), st.sampled_from(sorted(PARSERS)))
def test_any_format_sent_to_the_wrong_stream_is_refused_cleanly(raw: bytes, name: str) -> None:
    refusal(PARSERS[name], raw)


@FUZZ
@given(near_valid(READING, _READING_FIELDS) | _JSON.map(_dumps) | st.binary(max_size=200))
def test_river_readings_are_parsed_or_refused(raw: bytes) -> None:
    refusal(parse_reading, raw)


@FUZZ
@given(near_valid(REPORT, _REPORT_FIELDS) | _JSON.map(_dumps))
def test_incident_messages_are_parsed_or_refused(raw: bytes) -> None:
    refusal(_incident, raw)
    refusal(inspect_input, raw)


# --- named attacks -----------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/">&lol9;</Report>"""
XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""
XXE_HTTP = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "http://169.254.169.254/latest/meta-data/">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"""
XXE_PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<Report xmlns="http://xml.kishou.go.jp/jmaxml1/"/>"""
OVERSIZED_XML = SEEDS[0].replace(b"</Report>", b"<!--" + b"x" * MAX_XML_BYTES + b"--></Report>")
UNSAFE = "unsafe XML refused"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (BILLION_LAUGHS, UNSAFE),
        (XXE_FILE, UNSAFE),
        (XXE_HTTP, UNSAFE),
        (XXE_PARAMETER, UNSAFE),
        (OVERSIZED_XML, f"more than the {MAX_XML_BYTES} allowed"),
        (b"<?xml version='1.0' encoding='utf-8'?><alert>\xff\xfe</alert>", "not well-formed"),
        (b"<a>" * 100_000, "not well-formed"),
    ],
    ids=["billion-laughs", "xxe-file", "xxe-http", "xxe-parameter", "oversized", "bad-utf8",
         "deep-unclosed"],
)  # fmt: skip
@pytest.mark.parametrize("name", ["inspect", "weather"])
def test_xml_attacks_are_refused_before_any_entity_is_expanded(
    raw: bytes, reason: str, name: str
) -> None:
    assert reason in (refusal(PARSERS[name], raw) or "accepted")


def test_deeply_nested_xml_that_is_well_formed_is_refused_not_overflowed() -> None:
    deep = b"<a>" * 50_000 + b"</a>" * 50_000
    for name in ("inspect", "weather"):
        assert "not a CAP" in (refusal(PARSERS[name], deep) or "accepted")


DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
BAD_UTF8 = b'{"station_id": "g-\xff\xfe", "level_m": 1.0, "observed_at": "2026-06-03T05:50:00Z"}'
HUGE_INT = b'{"sensor_id": "s", "kind": "rain_rate", "value": ' + b"9" * 5000 + b"}"


@pytest.mark.parametrize(
    ("name", "raw", "reason"),
    [
        ("inspect", DEEP_JSON, "nested too deeply"),
        ("inspect", DEEP_OBJECT, "nested too deeply"),
        ("sensor", DEEP_JSON, "nested too deeply"),
        ("sensor", DEEP_OBJECT[:MAX_SENSOR_BYTES], "nested too deeply"),
        ("incident", DEEP_JSON, "recursion limit exceeded"),
        ("reading", DEEP_JSON, "more than 4096"),
        ("inspect", HUGE_INT, "Exceeds the limit (4300 digits)"),
        ("sensor", HUGE_INT, "Exceeds the limit (4300 digits)"),
        ("incident", HUGE_INT, "Invalid JSON"),
        ("inspect", BAD_UTF8, "can't decode byte 0xff"),
        ("sensor", BAD_UTF8, "can't decode byte 0xff"),
        ("reading", BAD_UTF8, "invalid unicode code point"),
        ("incident", BAD_UTF8, "invalid unicode code point"),
        ("sensor", b"x" * (MAX_SENSOR_BYTES + 1), "more than 1048576 (1 MiB)"),
    ],
)  # fmt: skip
def test_json_attacks_are_refused_with_a_reason(name: str, raw: bytes, reason: str) -> None:
    assert reason in (refusal(PARSERS[name], raw) or "accepted")


def _report_at(**place: object) -> bytes:
    return _dumps({**{k: v for k, v in REPORT.items() if k != "location"}, **place})


def _ngsi_at(coordinates: list[float]) -> bytes:
    entity = {"id": "urn:ngsi-ld:WaterObserved:w1", "type": "WaterObserved", "waterLevel": 1.2,
              "dateObserved": "2026-06-03T05:50:00Z",
              "location": {"type": "Point", "coordinates": coordinates}}  # fmt: skip
    return _dumps(entity)


def _cap_polygon(polygon: str) -> bytes:
    cap = (DATA / "cap" / "google_cap-library" / "thunderstorm.cap").read_bytes()
    head, _, tail = cap.partition(b"</areaDesc>")
    return head + b"</areaDesc><polygon>" + polygon.encode() + b"</polygon>" + tail


BOW_TIE = [[139.0, 35.0], [139.1, 35.1], [139.1, 35.0], [139.0, 35.1], [139.0, 35.0]]
PLANET = [[-180.0, -90.0], [180.0, -90.0], [180.0, 90.0], [-180.0, 90.0], [-180.0, -90.0]]


@pytest.mark.parametrize(
    ("name", "raw", "reason"),
    [
        ("incident", _report_at(location={"lat": 91, "lon": 139}), "less than or equal to 90"),
        ("incident", _report_at(location={"lat": 35, "lon": 181}), "less than or equal to 180"),
        ("incident", _report_at(location={"lat": math.nan, "lon": 139}), "finite number"),
        ("incident", _report_at(location={"lat": 35, "lon": math.inf}), "finite number"),
        ("incident", _report_at(area={"type": "Polygon", "coordinates": [BOW_TIE]}),
         "Self-intersection"),
        ("incident", _report_at(area={"type": "Polygon", "coordinates": [PLANET]}),
         "more than the 50 km²"),
        ("incident", _report_at(area={"type": "Polygon", "coordinates": [[]]}),
         "at least 4 positions"),
        ("incident", _report_at(area={"type": "Polygon", "coordinates": []}),
         "at least 1 item"),
        ("incident", _report_at(line=[{"lat": 35, "lon": 139}, {"lat": -91, "lon": 139}]),
         "greater than or equal to -90"),
        ("sensor", _ngsi_at([181.0, 35.0]), "is not GeoJSON [lon, lat] in degrees"),
        ("sensor", _ngsi_at([139.0, 91.0]), "is not GeoJSON [lon, lat] in degrees"),
        ("sensor", _ngsi_at([math.nan, 35.0]), "NaN is not a JSON number"),
        ("weather", _cap_polygon("91,139 91,140 92,140 91,139"), "less than or equal to 90"),
        ("weather", _cap_polygon("35,139 35.1,139.1 35,139.1 35.1,139 35,139"),
         "Self-intersection"),
        ("weather", _cap_polygon("35,139 35,140 36,140"), "CAP needs at least 4"),
        ("weather", _cap_polygon("NaN,139 35,140 36,140 NaN,139"), "is not a 'lat,lon' pair"),
    ],
)  # fmt: skip
def test_places_out_of_range_or_not_a_polygon_are_refused(
    name: str, raw: bytes, reason: str
) -> None:
    assert reason in (refusal(PARSERS[name], raw) or "accepted")


# --- through Kafka -----------------------------------------------------------------------------

HOSTILE_RECORDS = [
    (topics.WEATHER_RAW, topics.WEATHER_DLQ, BILLION_LAUGHS, UNSAFE),
    (topics.WEATHER_RAW, topics.WEATHER_DLQ, XXE_FILE, UNSAFE),
    (topics.INCIDENT_RAW, topics.INCIDENT_DLQ, BAD_UTF8, "invalid unicode code point"),
    (topics.INCIDENT_RAW, topics.INCIDENT_DLQ, DEEP_JSON, "recursion limit exceeded"),
    (topics.INCIDENT_RAW, topics.INCIDENT_DLQ, _report_at(location={"lat": 91, "lon": 139}),
     "less than or equal to 90"),
    (topics.SENSOR_RAW, topics.SENSOR_DLQ, BAD_UTF8, "can't decode byte 0xff"),
    (topics.SENSOR_RAW, topics.SENSOR_DLQ, DEEP_JSON, "nested too deeply"),
    (topics.RIVER_RAW, topics.RIVER_DLQ, BAD_UTF8, "invalid unicode code point"),
]  # fmt: skip


async def _reasons(pool: asyncpg.Pool, key: bytes) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT reason FROM rejected_inputs WHERE record_key = $1", key)
    return [r["reason"] for r in rows]


async def _dead_letters(bootstrap: str, keys: set[bytes]) -> dict[bytes, dict[str, Any]]:
    """Read the DLQ topics from the start until a record of every key is found."""
    dlqs = sorted({dlq for _, dlq, _, _ in HOSTILE_RECORDS})
    consumer = AIOKafkaConsumer(*dlqs, bootstrap_servers=bootstrap, group_id=f"dlq-{uuid.uuid4()}",
                                auto_offset_reset="earliest")  # fmt: skip
    found: dict[bytes, dict[str, Any]] = {}
    await consumer.start()
    try:

        async def collect() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.update({r.key: json.loads(r.value) for r in records if r.key in keys})
            return found.keys() == keys

        await wait_until(collect, timeout_s=60)
    finally:
        await consumer.stop()
    return found


async def test_hostile_records_are_dead_lettered_with_their_reason(
    running: Running, producer: AIOKafkaProducer, bootstrap: str
) -> None:
    keys = [f"hostile-{uuid.uuid4().hex}".encode() for _ in HOSTILE_RECORDS]
    for key, (topic, _, raw, _) in zip(keys, HOSTILE_RECORDS, strict=True):
        await producer.send(topic, raw, key=key)
    await producer.flush()
    dead = await _dead_letters(bootstrap, set(keys))
    for key, (_, _, raw, reason) in zip(keys, HOSTILE_RECORDS, strict=True):
        stored = await wait_until(lambda k=key: _reasons(running.pool, k), timeout_s=60)
        assert len(stored) == 1
        assert reason in stored[0]
        assert reason in dead[key]["reason"]
        kept = dead[key].get("value")
        assert kept == raw.decode() if kept is not None else dead[key]["value_base64"]
