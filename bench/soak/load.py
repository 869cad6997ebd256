"""The soak's sources, run in a process of their own: gauges, sensors, JMA, people over HTTP.

Every stream is paced on its own clock (``Plan`` sets the periods). A reading's time is its
send time, so the service's ``received_at`` minus it is the latency to the stored row, and the
push sink's arrival time minus it the latency from reading to delivery. One record in
``BAD_EVERY`` of the river and sensor streams, one telegram in ``BAD_TELEGRAM_EVERY`` and one
incident slot in ``BAD_INCIDENT_EVERY`` are malformed on purpose: each must end in its DLQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
from aiokafka import AIOKafkaProducer

from disaster import topics
from disaster._kafka import new_producer

__all__ = [
    "BAD_EVERY",
    "Plan",
    "SensorGroup",
    "produce_load",
    "river_level_m",
    "run_load",
    "storm_share",
    "wave_s",
]

BAD_EVERY = 47  # about 2 %, and prime, so the bad ones fall on every station in turn
BAD_TELEGRAM_EVERY = 4
BAD_INCIDENT_EVERY = 12
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
_REPORT_TIME = re.compile(r"<ReportDateTime>([^<]+)</ReportDateTime>")
_LANGUAGES = ("ja", "ja", "en", "ja", "ja", "ja-easy", "ja", "ja", "ja", "ja")
_KINDS = ("fire", "collapse", "people_trapped", "other", "fire", "collapse")

Box = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat


@dataclass(frozen=True)
class SensorGroup:
    """Sensors of one kind reporting together: ``count`` of them, each every ``period_s``."""

    prefix: str
    kind: str
    count: int
    period_s: float
    low: float
    high: float
    rising: int = 0  # the first ``rising`` sensors climb to ``high`` in each river wave
    ngsi_ld: bool = False


@dataclass(frozen=True)
class Plan:
    """What the sources send and how fast; picklable for the spawned process."""

    bootstrap: str
    base_url: str
    sink_url: str
    duration_s: float
    box: Box
    stations: tuple[str, ...]
    rising: int  # the first ``rising`` stations climb through every threshold, once a wave
    waves: int  # the river's hydrograph repeats this many times over ``duration_s``
    river_period_s: float
    sensors: tuple[SensorGroup, ...]
    telegrams: tuple[str, ...]
    telegram_period_s: float
    incident_period_s: float
    registrations_per_s: float
    answers_per_s: float
    browser_keys: tuple[tuple[str, str], ...]  # (p256dh, auth), resident n uses n % len
    first_resident: int  # n of the first resident registered over HTTP


def _now() -> datetime:
    return datetime.now(UTC)


def _point(rng: random.Random, box: Box) -> dict[str, float]:
    return {"lon": rng.uniform(box[0], box[2]), "lat": rng.uniform(box[1], box[3])}


#: One wave of the hydrograph, in shares of the wave: rising stations start one after another
#: over the first ``STAGGER``, climb from ``BASE_M`` to ``TOP_M`` over ``RISE`` (0.56 m a reading
#: in the full run, less than the 0.6 m between thresholds, so every threshold is crossed by a
#: reading of its own and alerted), stay at the top, fall back to ``BASE_M`` between ``FALL_AT``
#: and ``QUIET_AT`` (below every threshold by more than the hysteresis, so each station is back
#: at normal and the next wave announces every stage again) and stay there till the wave ends.
BASE_M, TOP_M = 1.8, 4.6
STAGGER, RISE, FALL_AT, QUIET_AT = 0.2, 0.5, 0.8, 0.85


def wave_s(plan: Plan) -> float:
    """Return the length of one wave of the river's hydrograph."""
    return plan.duration_s / plan.waves


def storm_share(plan: Plan, elapsed_s: float) -> float:
    """How far into its wave the storm is, 0 to 1: it climbs while the gauges rise (to
    ``STAGGER + RISE``), holds, falls back with them and stays at 0 till the next wave. The
    rising sensors follow it, so the roads they close are closed (and the router takes them in)
    during each wave's fan-outs and open again before the next."""
    wave = wave_s(plan)
    at = elapsed_s % wave / wave
    if at >= QUIET_AT:
        return 0.0
    if at >= FALL_AT:
        return 1.0 - (at - FALL_AT) / (QUIET_AT - FALL_AT)
    return min(at / (STAGGER + RISE), 1.0)


def river_level_m(plan: Plan, station: int, elapsed_s: float) -> float:
    """The hydrograph: ``plan.waves`` waves, one after another (see ``STAGGER``); stations past
    the first ``plan.rising`` sit low all night."""
    if station >= plan.rising:
        return 1.0 + 0.05 * (station % 7)
    at = elapsed_s % wave_s(plan) / wave_s(plan)
    if at >= FALL_AT:  # every gauge falls back at once, with the storm
        rise = storm_share(plan, elapsed_s)
    else:
        start = STAGGER * station / max(plan.rising, 1)
        rise = min(max((at - start) / RISE, 0.0), 1.0)
    return round(BASE_M + (TOP_M - BASE_M) * rise, 3)


async def _paced(
    period_s: float, deadline: float, send: Callable[[int], Awaitable[None] | None]
) -> None:
    """Call ``send(i)`` at ``start + i * period_s`` until the deadline."""
    start, i = time.monotonic(), 0
    while (at := start + i * period_s) < deadline:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        result = send(i)
        if result is not None:
            await result
        i += 1


class Sources:
    """The streams, their counters and the HTTP residents' tokens."""

    def __init__(self, plan: Plan, producer: AIOKafkaProducer, http: aiohttp.ClientSession):
        self.plan = plan
        self.producer = producer
        self.http = http
        self.sent: Counter[str] = Counter()
        self.residents: list[tuple[str, str]] = []  # (id, token)
        self.rng = random.Random(20261122)
        self.started = time.monotonic()
        self.deadline = self.started + plan.duration_s
        self.tasks: set[asyncio.Task[None]] = set()
        self.incident_places: list[tuple[str, dict[str, float]]] = []

    def spawn(self, work: Awaitable[None]) -> None:
        """Run an HTTP exchange in the background, so a slow answer does not hold the pace."""
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def produce(self, topic: str, key: str, value: bytes, *, bad: bool) -> None:
        """Send one record, counting it as valid or bad for its stream."""
        await self.producer.send(topic, value, key=key.encode())
        self.sent[f"{topic}:{'bad' if bad else 'valid'}"] += 1

    def river(self, i: int) -> Awaitable[None]:
        """One gauge's reading (round-robin over the stations)."""
        plan = self.plan
        station = i % len(plan.stations)
        sid = plan.stations[station]
        if i % BAD_EVERY == BAD_EVERY - 1:
            value = b'{"station_id": "' + sid.encode() + b'", "level_m": '
            return self.produce(topics.RIVER_RAW, sid, value, bad=True)
        level = river_level_m(plan, station, time.monotonic() - self.started)
        body = {"station_id": sid, "level_m": level, "observed_at": _now().isoformat()}
        return self.produce(topics.RIVER_RAW, sid, json.dumps(body).encode(), bad=False)

    def sensor(self, group: SensorGroup, i: int) -> Awaitable[None]:
        """One sensor's reading, plain JSON or an NGSI-LD WaterObserved entity."""
        n = i % group.count
        sid = f"{group.prefix}-{n}"
        if (i + n) % BAD_EVERY == BAD_EVERY - 1:
            value = b'{"sensor_id": "' + sid.encode() + b'", "kind": "' + b'volcano", "value": 1}'
            return self.produce(topics.SENSOR_RAW, sid, value, bad=True)
        span = group.high - group.low
        if n < group.rising:  # they climb with the river, in every wave
            share = storm_share(self.plan, time.monotonic() - self.started)
        else:
            share = 0.5 * self.rng.random()
        value = round(group.low + span * share, 3)
        where = random.Random(sid).uniform  # a sensor stays where it is
        lon, lat = (
            where(self.plan.box[0], self.plan.box[2]),
            where(self.plan.box[1], self.plan.box[3]),
        )
        now = _now().isoformat()
        if group.ngsi_ld:
            body: dict[str, object] = {
                "id": f"urn:ngsi-ld:WaterObserved:{sid}", "type": "WaterObserved",
                "waterLevel": {"type": "Property", "value": value, "unitCode": "MTR",
                               "observedAt": now},
                "location": {"type": "GeoProperty",
                             "value": {"type": "Point", "coordinates": [lon, lat]}},
            }  # fmt: skip
        else:
            body = {"sensor_id": sid, "kind": group.kind, "value": value, "observed_at": now,
                    "location": {"lat": lat, "lon": lon}}  # fmt: skip
        return self.produce(topics.SENSOR_RAW, sid, json.dumps(body).encode(), bad=False)

    def telegram(self, i: int) -> Awaitable[None]:
        """A JMA warning telegram, every time in it moved so that it is issued now."""
        text = self.plan.telegrams[i % len(self.plan.telegrams)]
        if i % BAD_TELEGRAM_EVERY == BAD_TELEGRAM_EVERY - 2:
            value = text[: len(text) // 2].encode()
            return self.produce(topics.WEATHER_RAW, "jma", value, bad=True)
        found = _REPORT_TIME.search(text)
        assert found is not None
        then = datetime.fromisoformat(found.group(1).replace("Z", "+00:00"))
        shift = timedelta(seconds=round((_now() - then).total_seconds()))
        moved = _ISO.sub(lambda m: _shifted(m.group(0), shift), text)
        return self.produce(topics.WEATHER_RAW, "jma", moved.encode(), bad=False)

    def incident(self, i: int) -> None:
        """A report over HTTP (one in three near an earlier one, so they merge); now and then
        a broken record straight onto ``incident.raw``, as a faulty bridge would send."""
        if i % BAD_INCIDENT_EVERY == BAD_INCIDENT_EVERY - 1:
            self.spawn(self.produce(topics.INCIDENT_RAW, "bad", b'{"action": "report"', bad=True))
        rng = self.rng
        if self.incident_places and i % 3 == 2:
            kind, near = rng.choice(self.incident_places)
            place = {"lat": near["lat"] + rng.uniform(-3e-4, 3e-4),
                     "lon": near["lon"] + rng.uniform(-3e-4, 3e-4)}  # fmt: skip
        else:
            kind, place = _KINDS[i % len(_KINDS)], _point(rng, self.plan.box)
            self.incident_places.append((kind, place))
        severity = "critical" if i % 8 == 0 else "high" if i % 2 else "medium"
        body = {"kind": kind, "severity": severity, "location": place,
                "description": f"soak report {i}", "reporter": {"role": "staff", "id": "soak"},
                "reported_at": _now().isoformat()}  # fmt: skip
        self.spawn(self._post("incident", "/api/v1/incidents", body, 202))

    def registration(self, i: int) -> None:
        """A resident registers, then adds their browser's push subscription."""
        self.spawn(self._register(self.plan.first_resident + i))

    def answer(self, _: int) -> None:
        """A registered resident reads their inbox and answers about the latest alert."""
        if self.residents:
            self.spawn(self._answer(*self.rng.choice(self.residents)))

    async def _post(self, what: str, path: str, body: object, expected: int) -> dict | None:
        try:
            async with self.http.post(path, json=body) as resp:
                answer = await resp.json() if resp.status == expected else None
                self.sent[f"{what}:{'ok' if answer is not None else resp.status}"] += 1
                return answer
        except (aiohttp.ClientError, TimeoutError):
            self.sent[f"{what}:error"] += 1
            return None

    async def _register(self, n: int) -> None:
        body = {"location": _point(self.rng, self.plan.box),
                "language": _LANGUAGES[n % len(_LANGUAGES)]}  # fmt: skip
        made = await self._post("registration", "/api/v1/subscribers", body, 201)
        if made is None:
            return
        p256dh, auth = self.plan.browser_keys[n % len(self.plan.browser_keys)]
        push = {"endpoint": f"{self.plan.sink_url}/p/{n}", "keys": {"p256dh": p256dh, "auth": auth}}
        headers = {"Authorization": f"Bearer {made['token']}"}
        async with self.http.post(f"/api/v1/subscribers/{made['id']}/push", json=push,
                                  headers=headers) as resp:  # fmt: skip
            self.sent[f"push_subscription:{'ok' if resp.status == 201 else resp.status}"] += 1
        self.residents.append((made["id"], made["token"]))

    async def _answer(self, sub_id: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.get(f"/api/v1/subscribers/{sub_id}/inbox", headers=headers) as resp:
            inbox = await resp.json() if resp.status == 200 else []
        latest = inbox[0]["alert"]["id"] if inbox else None
        body = {"status": self.rng.choice(("safe", "evacuating", "safe", "need_help")),
                "alert_id": latest}  # fmt: skip
        async with self.http.post(f"/api/v1/subscribers/{sub_id}/answers", json=body,
                                  headers=headers) as resp:  # fmt: skip
            self.sent[f"answer:{'ok' if resp.status == 201 else resp.status}"] += 1


def _shifted(raw: str, shift: timedelta) -> str:
    at = datetime.fromisoformat(raw.replace("Z", "+00:00")) + shift
    return at.isoformat().replace("+00:00", "Z") if raw.endswith("Z") else at.isoformat()


async def produce_load(plan: Plan) -> dict[str, int]:
    """Run every stream until the plan's duration is over; return what was sent, by stream."""
    producer = new_producer(plan.bootstrap)
    await producer.start()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(plan.base_url, timeout=timeout) as http:
        sources = Sources(plan, producer, http)
        end = sources.deadline
        streams = [
            _paced(plan.river_period_s / len(plan.stations), end, sources.river),
            _paced(plan.telegram_period_s, end, sources.telegram),
            _paced(plan.incident_period_s, end, sources.incident),
            _paced(1 / plan.registrations_per_s, end, sources.registration),
            _paced(1 / plan.answers_per_s, end, sources.answer),
        ]
        for group in plan.sensors:
            send = _sensor_sender(sources, group)
            streams.append(_paced(group.period_s / group.count, end, send))
        await asyncio.gather(*streams)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*sources.tasks), 60)
        await producer.flush()
    await producer.stop()
    return dict(sources.sent)


def _sensor_sender(sources: Sources, group: SensorGroup) -> Callable[[int], Awaitable[None]]:
    return lambda i: sources.sensor(group, i)


def run_load(plan: Plan) -> dict[str, int]:
    """Process entry point: the sources, apart from the service they load."""
    return asyncio.run(produce_load(plan))
