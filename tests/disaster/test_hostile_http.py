"""Hostile request bodies over real HTTP: each gets a 4xx with a JSON reason, never a 500.

Oversized bodies are refused before they are read (a declared 100 MB at once, a chunked one
as soon as it passes the limit) on every route that takes a body; deeply nested, non-UTF-8 and
non-standard JSON (NaN, 5,000-digit numbers) is a 400; places out of range, self-intersecting
or planet-sized polygons and empty rings are a 422 naming the field. The request models are
fuzzed in-process (many examples, fast), and each public and HQ write route over HTTP (a few).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from disaster._http import validated
from disaster.alerts_api import AlertDraftIn, CancelIn, UpdateIn
from disaster.app import create_app
from disaster.auth_api import LoginIn, OperatorIn, TokenIn
from disaster.domain import Station, SubscriberIn
from disaster.domain.flood_extent import FloodExtentIn
from disaster.domain.incident import IncidentReport
from disaster.domain.resident import AnswerIn, PushSubscriptionIn, SubscriberUpdate
from disaster.domain.shelter import Shelter
from disaster.flood_extents_api import MAX_BODY_BYTES as EXTENT_LIMIT_BYTES
from disaster.incidents_api import ResolutionIn
from disaster.sensors_api import SensorIn
from disaster.settings import Settings
from disaster.shelters_api import ShelterStatusIn
from tests.support import make_station, square

LIMIT_BYTES = 64 * 1024
TOO_LARGE = f"the body is larger than the {LIMIT_BYTES} bytes allowed"
HUNDRED_MB = 100 * 1024 * 1024
HOME = {"lat": 35.70, "lon": 139.70}
SHELTER = {"name": "試験避難所", "location": {"lat": 0.5, "lon": 0.5}, "kind": "both",
           "source": "fuzz", "capacity": 10, "open": False, "hazards": ["flood"]}  # fmt: skip
DRAFT = {"level": 3, "hazard": "flood", "area_name": "試験地区",
         "area": square(0.5, 0.5).model_dump(mode="json"),
         "headline": {"ja": "試験です"}}  # fmt: skip
INCIDENT = {"kind": "fire", "location": {"lat": 0.5, "lon": 0.5}, "reporter": {"role": "staff"}}
#: The routes with a limit of their own (flood polygon sets run to megabytes).
OWN_LIMITS = {("POST", "/api/v1/flood-extents"): EXTENT_LIMIT_BYTES}


def _too_large(method: str, path: str) -> str:
    return (
        f"the body is larger than the {OWN_LIMITS.get((method, path), LIMIT_BYTES)} bytes allowed"
    )


def _writes(settings: Settings) -> list[tuple[str, str]]:
    """Every POST, PUT and PATCH route of the app, with its path parameters filled in."""
    app = create_app(settings)
    found = {
        (r.method, re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), r.resource.canonical))
        for r in app.router.routes()
        if r.method in ("POST", "PUT", "PATCH") and r.resource is not None
    }
    return sorted(found)


async def _raw_request(
    base_url: str, head: str, body: AsyncIterator[bytes] | None = None, *, timeout_s: float = 10
) -> tuple[int, dict[str, Any], int]:
    """Send a request over a bare socket and read the answer while the body is still being
    sent; return (status, JSON body, bytes of the body that were sent)."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    sent = 0

    async def send() -> None:
        nonlocal sent
        writer.write(head.encode())
        async for chunk in body or _nothing():
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()

    sending = asyncio.create_task(send())
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout_s)
        headers: dict[str, str] = {}
        while (line := await asyncio.wait_for(reader.readline(), timeout_s)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        payload = await asyncio.wait_for(
            reader.readexactly(int(headers["content-length"])), timeout_s
        )
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()
    return int(status_line.split()[1]), json.loads(payload), sent


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield


def _head(method: str, path: str, extra: str = "") -> str:
    return (f"{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            f"{extra}\r\n")  # fmt: skip


# --- size --------------------------------------------------------------------------------------


async def test_a_declared_100_mb_body_is_refused_at_once_on_every_write_route(
    settings: Settings, anonymous: aiohttp.ClientSession, admin_token: str
) -> None:
    """The headers alone get the 413: the server does not wait for (or read) the body, and
    it answers before it asks who is calling."""
    base = str(anonymous._base_url)
    for method, path in _writes(settings):
        for auth in ("", f"Authorization: Bearer {admin_token}\r\n"):
            head = _head(method, path, f"{auth}Content-Length: {HUNDRED_MB}\r\n")
            status, body, sent = await _raw_request(base, head, timeout_s=5)
            assert (method, path, status) == (method, path, 413)
            assert body["reason"] == _too_large(method, path)
            assert sent == 0


async def _chunks(total: int, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    """A chunked body of ``total`` bytes of a JSON string, sent as it is made."""
    yield b'4\r\n["aa\r\n'
    for _ in range(total // size):
        yield f"{size:x}\r\n".encode() + b"a" * size + b"\r\n"
        await asyncio.sleep(0)
    yield b'2\r\n"]\r\n0\r\n\r\n'


@pytest.mark.parametrize(
    ("method", "path", "as_admin"),
    [
        ("POST", "/api/v1/subscribers", False),
        ("POST", "/api/v1/incidents", False),
        ("POST", "/api/v1/auth/login", False),
        ("PUT", "/api/v1/shelters/fuzz-chunked", True),  # read by the audit log first
        ("POST", "/api/v1/alerts/drafts", True),
    ],
)
async def test_a_chunked_100_mb_body_is_refused_once_it_passes_the_limit(
    anonymous: aiohttp.ClientSession, admin_token: str, method: str, path: str, as_admin: bool
) -> None:
    auth = f"Authorization: Bearer {admin_token}\r\n" if as_admin else ""
    head = _head(method, path, f"{auth}Transfer-Encoding: chunked\r\n")
    status, body, sent = await _raw_request(str(anonymous._base_url), head, _chunks(HUNDRED_MB))
    assert status == 413
    assert body["reason"] == TOO_LARGE
    assert sent < HUNDRED_MB // 10  # answered long before the body was all sent


# --- malformed JSON ----------------------------------------------------------------------------

DEEP = b"[" * 60_000 + b"]" * 4_000  # 100,000 levels would pass the size limit first
HOSTILE_JSON = [
    (DEEP, "the body is not JSON: nested too deeply"),
    (b"[" * 100_000, TOO_LARGE),
    (b'{"name": "\xff\xfe\xfd"}', "the body is not JSON: 'utf-8' codec can't decode byte 0xff"),
    (b'{"lat": NaN}', "the body is not JSON: NaN is not a JSON number"),
    (b'{"lat": -Infinity}', "the body is not JSON: -Infinity is not a JSON number"),
    (b'{"n": ' + b"9" * 5000 + b"}", "the body is not JSON: Exceeds the limit (4300 digits)"),
    (b"", "the body is not JSON: Expecting value"),
]
#: Routes that read a JSON body, with who may call them (a resident's own token for theirs).
JSON_ROUTES = [
    ("POST", "/api/v1/subscribers", "anyone"), ("POST", "/api/v1/incidents", "anyone"),
    ("POST", "/api/v1/auth/login", "anyone"), ("PATCH", "/api/v1/subscribers/{sub}", "resident"),
    ("POST", "/api/v1/subscribers/{sub}/push", "resident"),
    ("POST", "/api/v1/subscribers/{sub}/answers", "resident"),
    ("POST", "/api/v1/alerts/drafts", "admin"), ("PUT", "/api/v1/stations/fuzz-s", "admin"),
    ("PUT", "/api/v1/shelters/fuzz-h", "admin"), ("PATCH", "/api/v1/shelters/fuzz-h", "admin"),
    ("PUT", "/api/v1/sensors/fuzz-x", "admin"), ("POST", "/api/v1/auth/tokens", "admin"),
    ("POST", "/api/v1/operators", "admin"), ("POST", "/api/v1/flood-extents", "admin"),
    ("POST", f"/api/v1/incidents/{uuid.uuid4()}/resolve", "admin"),
    ("POST", f"/api/v1/alerts/{uuid.uuid4()}/update", "admin"),
    ("POST", f"/api/v1/alerts/{uuid.uuid4()}/cancel", "admin"),
]  # fmt: skip


async def _resident(http: aiohttp.ClientSession) -> tuple[str, dict[str, str]]:
    async with http.post("/api/v1/subscribers", json={"locations": {"home": HOME}}) as resp:
        created = await resp.json()
    return created["id"], {"Authorization": f"Bearer {created['token']}"}


async def test_malformed_json_is_a_400_with_the_reason_on_every_json_route(
    http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
) -> None:
    sub, resident = await _resident(http)
    for method, template, who in JSON_ROUTES:
        client = http if who == "admin" else anonymous
        headers = {"Content-Type": "application/json", **(resident if who == "resident" else {})}
        for raw, expected in HOSTILE_JSON:
            path = template.format(sub=sub)
            reason = expected
            if expected == TOO_LARGE and (method, path) in OWN_LIMITS:  # within its own limit
                reason = "the body is not JSON: nested too deeply"
            async with client.request(method, path, data=raw, headers=headers) as resp:
                answer = await resp.json()
                assert (path, resp.status) == (path, 413 if reason == TOO_LARGE else 400)
                assert answer["reason"].startswith(reason), (path, answer)


async def test_wrong_methods_and_unknown_paths_answer_json_not_a_500(
    anonymous: aiohttp.ClientSession,
) -> None:
    async with anonymous.delete("/api/v1/alerts") as resp:
        assert resp.status == 405
        assert (await resp.json())["reason"] == "DELETE is not allowed here; allowed: GET, HEAD"
    async with anonymous.get("/api/v1/no-such-thing") as resp:
        assert resp.status == 404
        assert (await resp.json())["reason"] == "Not Found"


# --- places ------------------------------------------------------------------------------------

BOW_TIE = [[0.5, 0.5], [0.6, 0.6], [0.6, 0.5], [0.5, 0.6], [0.5, 0.5]]
PLANET = [[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]
JAPAN_SIZED = [[128, 30], [146, 30], [146, 46], [128, 46], [128, 30]]
GEOMETRY_CASES = [
    ("/api/v1/incidents", INCIDENT, {"location": {"lat": 91, "lon": 139}},
     "location.lat: Input should be less than or equal to 90"),
    ("/api/v1/incidents", INCIDENT, {"location": {"lat": 35, "lon": 181}},
     "location.lon: Input should be less than or equal to 180"),
    ("/api/v1/incidents", INCIDENT, {"location": {"lat": 35, "lon": 1e999}},
     "location.lon: Input should be a finite number"),
    ("/api/v1/incidents", INCIDENT, {"area": {"type": "Polygon", "coordinates": [BOW_TIE]}},
     "area.coordinates: Value error, polygon is not valid: Self-intersection"),
    ("/api/v1/incidents", INCIDENT, {"area": {"type": "Polygon", "coordinates": [PLANET]}},
     "body: Value error, area is"),
    ("/api/v1/incidents", INCIDENT, {"area": {"type": "Polygon", "coordinates": [[]]}},
     "area.coordinates: Value error, each polygon ring needs at least 4 positions"),
    ("/api/v1/subscribers", {}, {"locations": {"home": {"lat": -91, "lon": 0}}},
     "locations.home.lat: Input should be greater than or equal to -90"),
    ("/api/v1/subscribers", {}, {"location": {"lat": 0, "lon": -1e999}},
     "location.lon: Input should be a finite number"),
    ("/api/v1/alerts/drafts", DRAFT, {"area": {"type": "Polygon", "coordinates": [PLANET]}},
     "area: Value error, area is 803,010,828 km²"),
    ("/api/v1/alerts/drafts", DRAFT, {"area": {"type": "Polygon", "coordinates": [JAPAN_SIZED]}},
     "km², more than the 100,000 km² an alert covers"),
    ("/api/v1/alerts/drafts", DRAFT, {"area": {"type": "Polygon", "coordinates": [BOW_TIE]}},
     "area.coordinates: Value error, polygon is not valid: Self-intersection"),
    ("/api/v1/alerts/drafts", DRAFT, {"area": {"type": "Polygon", "coordinates": []}},
     "area.coordinates: List should have at least 1 item"),
    ("/api/v1/alerts/drafts", DRAFT,
     {"circles": [{"center": {"lat": 91, "lon": 0}, "radius_m": 100}]},
     "circles.0.center.lat: Input should be less than or equal to 90"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "base", "change", "reason"), GEOMETRY_CASES)
async def test_places_out_of_range_and_bad_polygons_are_a_422_naming_the_field(
    http: aiohttp.ClientSession, path: str, base: dict, change: dict, reason: str
) -> None:
    body = json.dumps({**base, **change}).replace("Infinity", "1e999")  # as an overflow
    headers = {"Content-Type": "application/json"}
    async with http.post(path, data=body, headers=headers) as resp:
        answer = await resp.json()
    assert resp.status == 422, answer
    assert reason in answer["reason"]


async def test_a_shelter_or_station_out_of_range_is_a_422(http: aiohttp.ClientSession) -> None:
    shelter = {**SHELTER, "location": {"lat": 0.5, "lon": 180.5}}
    async with http.put("/api/v1/shelters/fuzz-range", json=shelter) as resp:
        assert resp.status == 422
        assert (await resp.json())["reason"].startswith("location.lon: Input should be less")
    station = make_station(square(0.5, 0.5), station_id="fuzz-range").model_dump(mode="json")
    station["area"]["coordinates"] = [BOW_TIE]
    async with http.put("/api/v1/stations/fuzz-range", json=station) as resp:
        assert resp.status == 422
        assert "Self-intersection" in (await resp.json())["reason"]


# --- fuzzing -----------------------------------------------------------------------------------

_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False)
)  # fmt: skip
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip
_COORD = st.floats(-200, 200) | st.sampled_from([90.0, -180.0, 1e308, -0.0])
_POINT = st.fixed_dictionaries({"lat": _COORD, "lon": _COORD})
_RING = st.lists(st.tuples(_COORD, _COORD), max_size=6).map(lambda r: [*r, *r[:1]])
_POLYGON = st.fixed_dictionaries({"type": st.just("Polygon"),
                                  "coordinates": st.lists(_RING, max_size=2)})  # fmt: skip
#: Values a field is replaced with: anything, or something shaped like a place.
_FIELD = _JSON | _POINT | _POLYGON | st.lists(_POINT, max_size=3)


@st.composite
def near_valid(draw: st.DrawFn, base: dict[str, Any], keep: tuple[str, ...] = ()) -> Any:
    """A valid body with up to three fields dropped or replaced (never those in ``keep``), or
    a new field added; or arbitrary JSON."""
    if draw(st.integers(0, 4)) == 0:
        return draw(_JSON)
    body = dict(base)
    names = [*sorted(set(base) - set(keep)), "extra"]
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3)):
        if draw(st.booleans()):
            body.pop(name, None)
        else:
            body[name] = draw(_FIELD)
    return body


STATION = make_station(square(0.5, 0.5), station_id="fuzz-st").model_dump(mode="json")
PUSH = {"endpoint": "https://push.example.net/p/abc", "keys": {"p256dh": "BPk", "auth": "x"}}
FLOOD = {"type": "FeatureCollection", "name": "想定", "source": "fuzz",
         "features": [{"type": "Feature", "geometry": square(0.5, 0.5).model_dump(mode="json"),
                       "properties": {"depth_rank": 2}}]}  # fmt: skip
MODELS: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (SubscriberIn, {"locations": {"home": HOME}, "language": "en", "needs": ["infant"]}),
    (SubscriberUpdate, {"locations": {"work": HOME}}), (PushSubscriptionIn, PUSH),
    (AnswerIn, {"status": "safe", "location": HOME}), (IncidentReport, INCIDENT),
    (ResolutionIn, {"resolved_by": {"role": "staff"}}), (AlertDraftIn, DRAFT),
    (UpdateIn, {"level": 4}), (CancelIn, {"all_clear": True}), (Station, STATION),
    (Shelter, {**SHELTER, "id": "fuzz-model"}), (ShelterStatusIn, {"open": True}),
    (SensorIn, {"expected_interval_s": 60}), (LoginIn, {"username": "a", "password": "b"}),
    (OperatorIn, {"username": "a", "password": "b" * 12, "role": "viewer"}),
    (TokenIn, {"name": "t"}), (FloodExtentIn, FLOOD),
]  # fmt: skip


def _validates_or_422(model: type[BaseModel], body: Any) -> None:
    try:
        validated(model, body)
    except web.HTTPUnprocessableEntity as exc:
        reason = json.loads(exc.text or "{}")["reason"]
        assert reason.strip()


@pytest.mark.parametrize(("model", "base"), MODELS, ids=[m.__name__ for m, _ in MODELS])
def test_every_request_model_validates_or_answers_422(
    model: type[BaseModel], base: dict[str, Any]
) -> None:
    assert validated(model, base)  # the base itself is valid, or the fuzzing proves little

    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(near_valid(base))
    def fuzz(body: Any) -> None:
        _validates_or_422(model, body)

    fuzz()


def _examples(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """Draw ``count`` examples with hypothesis, deterministically, to send over HTTP."""
    found: list[Any] = []

    @settings(max_examples=count, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found[:count]


#: (method, path, valid body, fields kept valid, as HQ): fuzzed fields never move a shelter or
#: station off its far-away test spot, so no other test's routes or targeting see them.
HTTP_FUZZ: list[tuple[str, str, dict[str, Any], tuple[str, ...], bool]] = [
    ("POST", "/api/v1/subscribers", MODELS[0][1], (), False),
    ("POST", "/api/v1/incidents", {**INCIDENT, "kind": "other"}, ("location",), False),
    ("POST", "/api/v1/auth/login", {"username": "nobody", "password": "x"}, (), False),
    ("POST", "/api/v1/alerts/drafts", DRAFT, ("area",), True),
    ("PUT", "/api/v1/stations/fuzz-http", {**STATION, "id": "fuzz-http"}, ("area", "id"), True),
    ("PUT", "/api/v1/shelters/fuzz-http", SHELTER, ("location",), True),
]  # fmt: skip


async def _remove_fuzz_records(pool: asyncpg.Pool, alerts: list[uuid.UUID]) -> None:
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM shelters WHERE id LIKE 'fuzz-%'")
        await conn.execute("DELETE FROM alerts WHERE id = ANY($1::uuid[])", alerts)


@pytest.mark.parametrize(("method", "path", "base", "keep", "as_hq"), HTTP_FUZZ,
                         ids=[f"{m} {p}" for m, p, *_ in HTTP_FUZZ])  # fmt: skip
async def test_fuzzed_bodies_over_http_get_a_json_answer_never_a_500(
    http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, pool: asyncpg.Pool,
    method: str, path: str, base: dict[str, Any], keep: tuple[str, ...], as_hq: bool,
) -> None:  # fmt: skip
    client = http if as_hq else anonymous
    drafts: list[uuid.UUID] = []
    try:
        for body in _examples(near_valid(base, keep), 15):
            async with client.request(method, path, json=body) as resp:
                answer = await resp.json()
                assert resp.status < 500, (body, answer)
                if resp.status >= 400:
                    assert answer["reason"].strip(), (body, answer)
                elif path.endswith("/drafts"):
                    drafts.append(uuid.UUID(answer["id"]))
    finally:
        await _remove_fuzz_records(pool, drafts)
