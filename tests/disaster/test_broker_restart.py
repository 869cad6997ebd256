"""The embedded broker is killed and restarted empty mid-run: nothing the system accepted is
lost, nothing is stored twice, and every targeted resident is told once.

Which guarantee this checks: the embedded broker keeps records in memory, so its restart loses
what it held; what the system itself accepted (incident reports over HTTP, alerts HQ issued,
readings the MQTT bridge took from Mosquitto, a drill's replayed inputs) is kept in Postgres
(``ingress_outbox``) and published again, and the consumers read the new broker from its start.
Against a durable Kafka cluster nothing acknowledged is lost in the first place, and this path
never fires.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import paho.mqtt.client as mqtt
import pytest

from disaster import operator_store, topics
from disaster.drill import (
    DrillRun,
    Scenario,
    StepHook,
    check_outcomes,
    load_scenario,
    run_drill,
    summarise,
)
from disaster.drill.localise import run_tag
from disaster.drill.observe import Observer
from disaster.drill.progress import PipelineProgress
from disaster.drill.run import DrillOptions
from disaster.drill.scenario import ScenarioEvent
from disaster.embedded import EmbeddedKafka
from disaster.services import Running, running_services
from disaster.settings import Settings, load_settings, parse_mqtt_url
from tests.notify.push_service import PushService
from tests.support import seed_push_residents, sensor_outcome, square, wait_until


@pytest.fixture
async def restart_settings(
    own_broker: EmbeddedKafka, fresh_database: object, tmp_path: Path
) -> Settings:
    """Settings on the test's own broker and a fresh database, bridging MQTT topics under a
    prefix of the test's own."""
    prefix = f"restart-{uuid.uuid4().hex[:6]}"
    return load_settings(
        kafka=own_broker.bootstrap, database_url=await fresh_database(),  # type: ignore[operator]
        http_port=0, group_prefix=prefix, state_dir=tmp_path / "state",
        rate_limits=False, push_allow_loopback=True,
        mqtt_url=f"mqtt://127.0.0.1:1883/{prefix}/sensors/#",
    )  # fmt: skip


@pytest.fixture
async def service(restart_settings: Settings) -> AsyncIterator[Running]:
    async with running_services(restart_settings, "all") as running:
        yield running
    await asyncio.to_thread(_forget_bridge_session, restart_settings)


def _forget_bridge_session(settings: Settings) -> None:
    """Drop the bridge's persistent session from Mosquitto (a clean connect under its client
    id, which disaster.services derives from the group prefix)."""
    target = parse_mqtt_url(settings.mqtt_url or "")
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"{settings.group_prefix}-mqtt-bridge",
        clean_session=True,
    )
    client.connect(target.host, target.port)
    client.disconnect()


def _report(i: int) -> dict:
    # far apart (0.05° ≈ 5 km) so that no two merge into one incident
    place = {"lat": 10.0 + 0.05 * (i // 40), "lon": 10.0 + 0.05 * (i % 40)}
    return {"kind": "fire", "location": place,
            "severity": "medium", "description": f"report {i}", "reporter": {"role": "staff"},
            "report_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"restart-{i}"))}  # fmt: skip


async def _post_reports(http: aiohttp.ClientSession, numbers: range) -> None:
    for i in numbers:
        async with http.post("/api/v1/incidents", json=_report(i)) as resp:
            assert resp.status == 202, await resp.text()


async def _stored(pool: asyncpg.Pool) -> tuple[int, int]:
    async with pool.acquire() as conn:
        reports = await conn.fetchval("SELECT count(*) FROM incident_reports")
        incidents = await conn.fetchval("SELECT count(*) FROM incidents")
    return reports, incidents


async def _epoch_known(service: Running) -> bool:
    return service.watch is not None and service.watch.epoch is not None


async def test_reports_and_alerts_accepted_around_a_broker_restart_are_all_processed_once(
    service: Running, own_broker: EmbeddedKafka
) -> None:
    pool = service.pool
    async with pool.acquire() as conn:
        admin = await operator_store.add_operator(conn, "hq", "a long enough passphrase", "admin")
        token = await operator_store.create_api_token(conn, admin, "tests")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url=service.base_url, headers=headers) as http:
        residents = []
        for k in range(5):
            body = {"locations": {"home": {"lat": 40.002 + 0.001 * k, "lon": 140.002}}}
            async with http.post("/api/v1/subscribers", json=body) as resp:
                residents.append(uuid.UUID((await resp.json())["id"]))
        # Before: 60 reports stored, so the consumers' positions stand well past zero.
        await _post_reports(http, range(60))
        await wait_until(lambda: _stored_at_least(pool, 60), timeout_s=60)
        await wait_until(lambda: _epoch_known(service), timeout_s=10)

        own_broker.kill()
        # While the broker is down the API still accepts: Postgres keeps what it promised.
        await _post_reports(http, range(60, 100))
        draft_in = {"level": 4, "hazard": "flood", "area_name": "北地区",
                    "area": square(140.0, 40.0, 0.01).model_dump(mode="json"),
                    "headline": {"ja": "避難してください。"}}  # fmt: skip
        async with http.post("/api/v1/alerts/drafts", json=draft_in) as resp:
            alert_id = (await resp.json())["id"]
        for step in ("approve", "issue"):
            async with http.post(f"/api/v1/alerts/{alert_id}/{step}") as resp:
                assert resp.status == 200, await resp.text()

        await asyncio.to_thread(own_broker.restart)
        # After: more reports than the consumers had read before, so a consumer that kept
        # its old positions would skip some.
        await _post_reports(http, range(100, 200))
        await wait_until(lambda: _stored_at_least(pool, 200), timeout_s=120)

    assert await _stored(pool) == (200, 200)  # each report once, none merged, none lost
    # The alert reaches the notifier through its own group, which may rejoin the new broker
    # after the reports' group did: wait for everyone to be told, then check it was once.
    await wait_until(lambda: _all_told(pool, alert_id, len(residents)), timeout_s=60)
    async with pool.acquire() as conn:
        told = await conn.fetch(
            """SELECT subscriber_id, count(*) AS n FROM deliveries
               WHERE alert_id = $1 GROUP BY subscriber_id""",
            uuid.UUID(alert_id),
        )
    assert {r["subscriber_id"]: r["n"] for r in told} == dict.fromkeys(residents, 1)


async def _all_told(pool: asyncpg.Pool, alert_id: str, count: int) -> bool:
    async with pool.acquire() as conn:
        told = await conn.fetchval(
            "SELECT count(DISTINCT subscriber_id) FROM deliveries WHERE alert_id = $1",
            uuid.UUID(alert_id),
        )
    return told >= count


async def _stored_at_least(pool: asyncpg.Pool, count: int) -> bool:
    return (await _stored(pool))[0] >= count


@pytest.mark.timeout(300)
async def test_a_fan_out_goes_on_while_the_broker_is_down_and_reaches_everyone_once(
    service: Running, own_broker: EmbeddedKafka, push_service: PushService
) -> None:
    residents = 3_000
    homes = [(41.001 + i % 40 * 2e-4, 141.001 + i // 40 * 2e-4) for i in range(residents)]
    endpoints = await seed_push_residents(service.pool, push_service, homes)
    async with service.pool.acquire() as conn:
        admin = await operator_store.add_operator(conn, "hq2", "a long enough passphrase", "admin")
        token = await operator_store.create_api_token(conn, admin, "tests")
    draft_in = {"level": 4, "hazard": "flood", "area_name": "東地区",
                "area": square(141.0, 41.0, 0.02).model_dump(mode="json"),
                "headline": {"ja": "避難してください。"}}  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url=service.base_url, headers=headers) as http:
        async with http.post("/api/v1/alerts/drafts", json=draft_in) as resp:
            alert_id = (await resp.json())["id"]
        for step in ("approve", "issue"):
            async with http.post(f"/api/v1/alerts/{alert_id}/{step}") as resp:
                assert resp.status == 200, await resp.text()

    await push_service.wait_until(lambda: push_service.reached >= 50, timeout_s=60)
    own_broker.kill()
    at_kill = push_service.reached
    # The outbox is in Postgres: the fan-out does not need the broker to go on.
    await push_service.wait_until(lambda: push_service.reached == residents, timeout_s=120)
    assert at_kill < residents, "the kill came too late to interrupt the fan-out"
    await asyncio.to_thread(own_broker.restart)
    await wait_until(lambda: _epoch_known(service), timeout_s=10)

    async def settled() -> bool:
        async with service.pool.acquire() as conn:
            return not await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE alert_id = $1 AND status <> 'delivered'",
                uuid.UUID(alert_id),
            )

    await wait_until(settled, timeout_s=60)
    assert all(len(push_service.received(e)) == 1 for e in endpoints)


# --- the MQTT bridge ------------------------------------------------------------------------

T0 = datetime(2026, 6, 3, 1, 0, tzinfo=UTC)
_UNDERPASS = {"lat": 35.66, "lon": 139.7}
#: Each phase (before the kill, while the broker is down, after its restart) has ten minutes of
#: readings; the underpass's water rises once in each: to warning, to danger (closing the road),
#: to warning again, and is back to 5 cm the next minute.
_PEAK_M = (0.15, 0.4, 0.2)


def _sensor_reading(sensor_id: str, kind: str, value: float, minute: int) -> bytes:
    at = (T0 + timedelta(minutes=minute)).isoformat()
    return json.dumps({"sensor_id": sensor_id, "kind": kind, "value": value, "observed_at": at,
                       "location": _UNDERPASS}).encode()  # fmt: skip


def _phase(
    topic_of: Callable[[str], str], gauge: str, depth: str, phase: int
) -> list[tuple[str, bytes]]:
    """The phase's messages, ``(MQTT topic, payload)``: a water level and a depth a minute."""
    messages = []
    for minute in range(10 * phase, 10 * phase + 10):
        depth_m = _PEAK_M[phase] if minute % 10 == 5 else 0.05
        messages += [
            (topic_of(gauge), _sensor_reading(gauge, "water_level", 1.0 + minute / 100, minute)),
            (topic_of(depth), _sensor_reading(depth, "water_depth", depth_m, minute)),
        ]
    return messages


def _publish(settings: Settings, messages: list[tuple[str, bytes]]) -> None:
    """Publish as a field device does, with QoS 1; return once Mosquitto has each."""
    target = parse_mqtt_url(settings.mqtt_url or "")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(target.host, target.port)
    client.loop_start()
    try:
        sent = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in sent:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


async def _readings_of(pool: asyncpg.Pool, sensors: list[str]) -> list[tuple[str, datetime]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT sensor_id, observed_at FROM sensor_readings
               WHERE sensor_id = ANY($1::text[]) ORDER BY sensor_id, observed_at""",
            sensors,
        )
    return [(r["sensor_id"], r["observed_at"]) for r in rows]


async def _bridge_subscribed(
    settings: Settings, pool: asyncpg.Pool, topic_of: Callable[[str], str]
) -> None:
    """Wait until the bridge has subscribed: Mosquitto keeps nothing for a session that does
    not exist yet, so a probe reading is published again until one is stored."""
    probe, minutes = f"probe-{uuid.uuid4().hex[:8]}", itertools.count()

    async def stored() -> bool:
        message = (topic_of(probe), _sensor_reading(probe, "water_level", 1.0, next(minutes)))
        await asyncio.to_thread(_publish, settings, [message])
        return bool(await _readings_of(pool, [probe]))

    await wait_until(stored, timeout_s=30, interval_s=0.5)


async def _unpublished(pool: asyncpg.Pool, topic: str) -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM ingress_outbox WHERE topic = $1 AND published_at IS NULL",
                topic,
            )
        )


async def _settled_after_restart(service: Running, settings: Settings, before: str) -> None:
    """Wait until the watch has taken the new broker's epoch (so the outbox was marked for
    publishing again and every consumer rewound), the outbox is published again, and every
    consumer group has handled all its topics hold: nothing is still to be replayed."""
    assert settings.kafka is not None

    async def new_epoch() -> bool:
        return service.watch is not None and service.watch.epoch not in (None, before)

    async def all_published() -> bool:
        async with service.pool.acquire() as conn:
            return not await conn.fetchval(
                "SELECT count(*) FROM ingress_outbox WHERE published_at IS NULL"
            )

    await wait_until(new_epoch, timeout_s=30)
    await wait_until(all_published, timeout_s=60)
    async with PipelineProgress(settings.kafka, settings.group_prefix) as progress:
        await progress.wait_caught_up(timeout_s=60)


#: The underpass's threshold crossings: (severity, minute).
_CROSSINGS = [("warning", 5), ("danger", 15), ("warning", 25)]


@dataclass(frozen=True)
class _Bridged:
    """What a bridge run around a restart published, and what Postgres holds afterwards."""

    published: list[tuple[str, datetime]]
    stored: list[tuple[str, datetime]]
    announced: list[tuple[str, datetime]]  # the underpass's threshold events: severity, time
    closure: tuple[bool, datetime] | None  # its road closure: active, changed_at


async def _bridge_around_a_restart(
    service: Running, settings: Settings, broker: EmbeddedKafka
) -> _Bridged:
    """Publish a phase of readings to Mosquitto before the broker is killed, one while it is
    down (waiting until the bridge has kept them in Postgres) and one at once after its
    restart; wait until the service has taken the new broker's epoch and settled."""
    pool = service.pool
    topic_filter = parse_mqtt_url(settings.mqtt_url or "").topic_filter

    def topic_of(sensor: str) -> str:
        return topic_filter.replace("#", sensor)

    uid = uuid.uuid4().hex[:8]
    gauge, depth = f"level-{uid}", f"depth-{uid}"
    phases = [_phase(topic_of, gauge, depth, p) for p in range(3)]
    await _bridge_subscribed(settings, pool, topic_of)

    await asyncio.to_thread(_publish, settings, phases[0])
    await wait_until(lambda: _stored_readings(pool, [gauge, depth], 20), timeout_s=30)
    await wait_until(lambda: _epoch_known(service), timeout_s=10)
    assert service.watch is not None
    before = service.watch.epoch
    assert before is not None

    broker.kill()
    await asyncio.to_thread(_publish, settings, phases[1])
    # Accepted while the broker is down: kept in Postgres, not yet published.
    await wait_until(lambda: _unpublished_at_least(pool, 20), timeout_s=30)

    await asyncio.to_thread(broker.restart)
    await asyncio.to_thread(_publish, settings, phases[2])
    await wait_until(lambda: _stored_readings(pool, [gauge, depth], 60), timeout_s=60)
    await _settled_after_restart(service, settings, before)

    outcome = await sensor_outcome(pool, depth)
    bodies = [json.loads(payload) for phase in phases for _, payload in phase]
    return _Bridged(
        published=sorted(
            (b["sensor_id"], datetime.fromisoformat(b["observed_at"])) for b in bodies
        ),
        stored=await _readings_of(pool, [gauge, depth]),
        announced=outcome["announced"],
        closure=outcome["closure"],
    )


@pytest.mark.timeout(150)
async def test_mqtt_readings_bridged_around_a_broker_restart_are_all_stored_once(
    service: Running, restart_settings: Settings, own_broker: EmbeddedKafka
) -> None:
    """Readings published to Mosquitto with QoS 1 before the broker is killed, while it is
    down and after its restart are each stored once, and nothing they cause is announced twice.

    Guarantee checked: the bridge acknowledges a message to Mosquitto only once Postgres keeps
    it (``ingress_outbox``), so a broker that is down does not stop the bridge, and one that
    came back empty (the embedded broker forgets everything) is given every reading again,
    which the consumers, read again from the start, store once; against a durable cluster
    nothing acknowledged is lost and the republishing never fires. A reading's table key makes
    a second row impossible, so "not twice" is also checked on what readings cause: replayed
    readings announce no threshold crossing again.
    """
    bridged = await _bridge_around_a_restart(service, restart_settings, own_broker)

    assert bridged.stored == bridged.published  # each once, none lost
    expected = [(severity, T0 + timedelta(minutes=m)) for severity, m in _CROSSINGS]
    assert len(set(bridged.announced)) == len(bridged.announced)
    assert set(bridged.announced) <= set(expected)


@pytest.mark.timeout(150)
async def test_a_threshold_crossed_while_the_broker_is_down_is_announced_after_its_restart(
    service: Running, restart_settings: Settings, own_broker: EmbeddedKafka
) -> None:
    """Every threshold crossing of readings bridged around a restart is announced once, in
    order, and the road the underpass's sensor closed while the broker was down is reopened.

    Guarantee checked: event time, not arrival order, decides. After the restart, consumers
    fetch at their old positions until the broker watch notices, so readings published at once
    after it can be evaluated before those the outbox republishes from the outage; these then
    arrive late, and each late batch re-evaluates its sensor from its own time over the stored
    readings, so the crossing it holds is announced (once) and the closure ends where event
    order puts it. Against a durable cluster consumers keep their positions and the readings
    arrive in order anyway.
    """
    bridged = await _bridge_around_a_restart(service, restart_settings, own_broker)

    assert bridged.stored == bridged.published
    expected = [(severity, T0 + timedelta(minutes=m)) for severity, m in _CROSSINGS]
    assert bridged.announced == expected
    # Closed at 40 cm while the broker was down, reopened the next minute.
    assert bridged.closure == (False, T0 + timedelta(minutes=16))


async def _stored_readings(pool: asyncpg.Pool, sensors: list[str], count: int) -> bool:
    return len(await _readings_of(pool, sensors)) >= count


async def _unpublished_at_least(pool: asyncpg.Pool, count: int) -> bool:
    return await _unpublished(pool, topics.SENSOR_RAW) >= count


# --- drill replays --------------------------------------------------------------------------

_RIVER = [[140.0485, 35.5557], [140.0773, 35.5557], [140.0773, 35.5616], [140.0485, 35.5616],
          [140.0485, 35.5557]]  # fmt: skip
#: Each step: offset (s), the gauge's level (m), the underpass's water (m) and the step's label.
_DRILL_STEPS = [
    (0, 1.5, 0.05, None),
    (600, 2.2, 0.12, None),
    (1200, 3.1, 0.35, "caution"),  # accepted while the broker is down
    (1800, 3.7, 0.05, "evacuation"),
    (2400, 4.3, 0.05, "danger"),
]
_KILL_AFTER_S = 600


def _drill_events() -> list[dict]:
    events = []
    for offset_s, level_m, depth_m, label in _DRILL_STEPS:
        at = f"2019-10-12T15:{offset_s // 60:02d}:00+09:00"
        river = {"station_id": "gauge-1", "level_m": level_m, "observed_at": at}
        water = {"sensor_id": "underpass-1", "kind": "water_depth", "value": depth_m,
                 "observed_at": at, "location": {"lat": 35.5576, "lon": 140.0629}}  # fmt: skip
        events += [
            {"offset_s": offset_s, "topic": topics.RIVER_RAW, "key": "gauge-1",
             "payload": river, **({"label": label} if label else {})},
            {"offset_s": offset_s, "topic": topics.SENSOR_RAW, "key": "underpass-1",
             "payload": water},
        ]  # fmt: skip
    return events


def _drill_scenario(tmp_path: Path) -> Scenario:
    """A gauge rising through its thresholds over 40 minutes beside an underpass that floods
    once, with twelve residents in the gauge's area (every fourth not in drills)."""
    thresholds = {"standby_m": 2.0, "caution_m": 3.0, "evacuation_m": 3.6, "danger_m": 4.2}
    header = {
        "format": "disaster-scenario/1", "name": "restart-drill",
        "city": {"kind": "generated", "seed": 0}, "start": "2019-10-12T15:00:00+09:00",
        "stations": [{"id": "gauge-1", "name": "試験川", "thresholds": thresholds,
                      "gauge_max_m": 12.0, "area_name": "試験川沿い",
                      "area": {"type": "Polygon", "coordinates": [_RIVER]},
                      "lat": 35.5586, "lon": 140.0629}],
        "residents": [{"name": "riverside", "count": 12, "no_drills_every": 4,
                       "box": [140.0485, 35.5557, 140.0773, 35.5616]}],
        "expect": [
            {"kind": "alert", "level_at_least": 2, "trigger": "caution", "within_min": 0},
            {"kind": "alert", "level_at_least": 4, "trigger": "danger", "within_min": 0},
            {"kind": "closures_at_least", "count": 1},
            {"kind": "group_reached", "group": "riverside", "share_at_least": 1.0},
            {"kind": "dlq_at_most", "count": 0},
            {"kind": "drills_only"},
        ],
    }  # fmt: skip
    path = tmp_path / "restart-drill.jsonl"
    lines = [json.dumps(x, ensure_ascii=False) for x in (header, *_drill_events())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_scenario(path)


@dataclass
class _KillBetweenSteps:
    """A step hook: the broker is killed after the step at ``after_s``, and restarted once the
    next step's inputs are accepted (kept in Postgres) while it is down."""

    broker: EmbeddedKafka
    pool: asyncpg.Pool
    after_s: float
    restart: asyncio.Task[None] | None = None

    def __call__(self, at_s: float, _step: list[ScenarioEvent], _observer: Observer) -> None:
        if at_s == self.after_s:
            self.broker.kill()
            self.restart = asyncio.create_task(self._restart_once_accepted())

    async def _restart_once_accepted(self) -> None:
        await wait_until(lambda: _unpublished(self.pool, topics.RIVER_RAW), timeout_s=30)
        await asyncio.to_thread(self.broker.restart)


async def _run_drill(
    settings: Settings, pool: asyncpg.Pool, scenario: Scenario, hook: StepHook | None = None
) -> tuple[DrillRun, dict]:
    run = await run_drill(settings, pool, scenario, DrillOptions(virtual=True), on_step=hook)
    summary = summarise(run)
    return run, summarise(run, check_outcomes(scenario, summary["decisions"]))


@pytest.mark.timeout(170)
async def test_a_drill_replay_spanning_a_broker_restart_processes_every_input_once(
    service: Running, restart_settings: Settings, own_broker: EmbeddedKafka, tmp_path: Path
) -> None:
    """A virtual-clock drill whose third step is accepted while the broker is down, and which
    goes on after its restart, makes the decisions of a run the broker never failed, and
    stores each of its readings and alerts once.

    Guarantee checked: a drill's inputs are accepted into ``ingress_outbox`` (Postgres), so the
    step waits for a broker that is down instead of losing its records, and a broker that came
    back empty (the embedded broker forgets everything) is given the earlier steps again, which
    the idempotent consumers store once; against a durable cluster nothing acknowledged is
    lost and the republishing never fires.
    """
    settings, pool = restart_settings, service.pool
    scenario = _drill_scenario(tmp_path)
    _, reference = await _run_drill(settings, pool, scenario)
    assert service.watch is not None
    before = service.watch.epoch
    assert before is not None

    hook = _KillBetweenSteps(own_broker, pool, _KILL_AFTER_S)
    try:
        run, summary = await _run_drill(settings, pool, scenario, hook)
    finally:
        if hook.restart is not None and not hook.restart.done():
            hook.restart.cancel()
    assert hook.restart is not None
    await hook.restart  # the restart really happened mid-drill
    await _settled_after_restart(service, settings, before)

    failed = [o for o in summary["outcomes"] if not o["passed"]]
    assert not failed, failed
    assert summary["decisions"] == reference["decisions"]
    tag = run_tag(run.run_id)
    async with pool.acquire() as conn:
        rivers = await conn.fetchval(
            "SELECT count(*) FROM river_readings WHERE station_id = $1", f"{tag}.gauge-1"
        )
        depths = await conn.fetchval(
            "SELECT count(*) FROM sensor_readings WHERE sensor_id = $1", f"{tag}.underpass-1"
        )
        alerts = await conn.fetch(
            """SELECT a.id, a.level, a.status, count(d.subscriber_id) AS told
               FROM alerts a JOIN hazard_events e ON e.id = a.hazard_event_id
               LEFT JOIN deliveries d ON d.alert_id = a.id AND d.channel = 'inbox'
                                     AND d.subscriber_id = ANY($2::uuid[])
               WHERE e.body->>'exercise_run' = $1 GROUP BY a.id""",
            str(run.run_id), [r.id for r in run.observer.residents],
        )  # fmt: skip
    assert (rivers, depths) == (len(_DRILL_STEPS), len(_DRILL_STEPS))
    # The alerts the run observed are the ones stored, no more (an input processed twice as
    # new would make another), and each issued one reached the run's nine residents in
    # drills, once each (the reference run's residents live in the same place).
    shown = summary["decisions"]["alerts"]
    assert sorted((a["level"], a["status"]) for a in shown) == sorted(
        (r["level"], r["status"]) for r in alerts
    )
    assert {r["told"] for r in alerts if r["status"] == "issued"} == {9}
