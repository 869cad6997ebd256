"""Replaying scenarios through the running service: each shipped one under the virtual clock
meets its expected outcomes and its report agrees with the database, step by step and at the
end; a paced replay keeps the scenario's timing; a run's rejected inputs are counted."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from disaster import store, topics
from disaster.drill.localise import Localiser, run_tag
from disaster.drill.observe import Observer
from disaster.drill.outcomes import check_outcomes
from disaster.drill.report import write_report
from disaster.drill.run import DrillOptions, DrillRun, run_drill
from disaster.drill.scenario import Scenario, ScenarioEvent, load_scenario
from disaster.drill.seed import drill_residents
from disaster.drill.summary import summarise
from disaster.services import Running
from disaster.settings import Settings
from tests.support import wait_until

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

# The run's own things in the database, found without the runner's bookkeeping: alerts by
# their hazard event's exercise_run, closures by the run's sensors or incidents, shelters by
# the run's tag; residents are the scenario's, with ids derived from the run id.
_RUN_ALERTS = """
    SELECT a.id FROM alerts a JOIN hazard_events e ON e.id = a.hazard_event_id
    WHERE e.body->>'exercise_run' = $1"""
_IN_FORCE = """
    SELECT count(*) FROM road_closures c
    WHERE c.active AND ((c.source = 'sensor' AND c.source_id LIKE $1::text || '.%')
        OR (c.source = 'incident'
            AND c.source_id IN (SELECT id::text FROM incidents WHERE exercise_run = $2)))"""
_UNANSWERED = f"""
    SELECT count(*) FROM subscribers s
    WHERE s.id = ANY($1::uuid[]) AND cardinality(s.needs) > 0
      AND EXISTS (SELECT 1 FROM deliveries d WHERE d.subscriber_id = s.id
                  AND d.channel = 'inbox' AND d.status = 'delivered'
                  AND d.alert_id IN ({_RUN_ALERTS.replace("$1", "$2")}))
      AND NOT EXISTS (SELECT 1 FROM answers WHERE subscriber_id = s.id)"""
_ALERT_FIGURES = f"""
    SELECT a.level, a.status, a.hazard, a.exercise,
           replace(a.area_name, $3::text || '.', '') AS area,
           count(d.subscriber_id) AS targeted,
           count(d.subscriber_id) FILTER (WHERE d.status = 'delivered') AS reached
    FROM alerts a LEFT JOIN deliveries d ON d.alert_id = a.id AND d.channel = 'inbox'
                                        AND d.subscriber_id = ANY($2::uuid[])
    WHERE a.id IN ({_RUN_ALERTS}) GROUP BY a.id"""
_REACH = f"""
    SELECT a.level, d.subscriber_id, bool_or(d.status = 'delivered') AS delivered
    FROM deliveries d JOIN alerts a ON a.id = d.alert_id
    WHERE a.id IN ({_RUN_ALERTS}) AND d.channel = 'inbox' AND d.subscriber_id = ANY($2::uuid[])
    GROUP BY a.level, d.subscriber_id"""
_NOT_OPTED_IN = f"""
    SELECT count(DISTINCT d.subscriber_id) FILTER (WHERE d.subscriber_id = ANY($2::uuid[])),
           count(DISTINCT d.subscriber_id)
    FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
    WHERE d.alert_id IN ({_RUN_ALERTS}) AND NOT s.drills"""
# Rejected inputs of the run: their key starts with its tag, or their value names its ids.
_REJECTED = """
    SELECT topic, count(*) AS n FROM rejected_inputs
    WHERE position($1::bytea IN record_key) = 1 OR position($1::bytea IN record_value) > 0
    GROUP BY topic"""


def _resident_ids(scenario: Scenario, run_id: uuid.UUID) -> list[uuid.UUID]:
    return [r.id for r in drill_residents(scenario, Localiser(run_id))]


@dataclass
class _StepsAgree:
    """A step hook: after each step, the state the observer recorded (closures in force,
    shelter occupancy, vulnerable residents reached and unanswered) is the database's."""

    pool: asyncpg.Pool
    run_id: uuid.UUID
    residents: list[uuid.UUID]
    closures_in_force: list[int] = field(default_factory=list)

    async def __call__(self, at_s: float, _step: list[ScenarioEvent], obs: Observer) -> None:
        tag = run_tag(self.run_id)
        async with self.pool.acquire() as conn:
            in_force = await conn.fetchval(_IN_FORCE, tag, str(self.run_id))
            shelters = await conn.fetch(
                "SELECT id, occupancy FROM shelters WHERE id LIKE $1::text || '.%'", tag
            )
            unanswered = await conn.fetchval(_UNANSWERED, self.residents, str(self.run_id))
        held = {
            "at_s": at_s, "closures_active": in_force, "vulnerable_unanswered": unanswered,
            "occupancy": {r["id"].removeprefix(f"{tag}."): r["occupancy"] for r in shelters},
        }  # fmt: skip
        assert obs.timeline[-1] == held
        self.closures_in_force.append(in_force)


async def _run(
    settings: Settings, running: Running, scenario: Scenario
) -> tuple[DrillRun, dict, _StepsAgree]:
    run_id = uuid.uuid4()
    steps = _StepsAgree(running.pool, run_id, _resident_ids(scenario, run_id))
    options = DrillOptions(virtual=True, run_id=run_id)
    run = await run_drill(settings, running.pool, scenario, options, on_step=steps)
    summary = summarise(run, [])
    outcomes = check_outcomes(scenario, summary["decisions"])
    return run, summarise(run, outcomes), steps


@pytest.mark.parametrize("name", ["typhoon_river_flood", "earthquake_shibuya", "landslide_night"])
async def test_a_shipped_scenario_meets_its_expected_outcomes(
    settings: Settings, running: Running, name: str, tmp_path: Path
) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.jsonl")
    run, summary, steps = await _run(settings, running, scenario)
    failed = [o for o in summary["outcomes"] if not o["passed"]]
    assert not failed, failed
    page = write_report(summary, tmp_path)
    assert "<img" in page.read_text(encoding="utf-8")
    assert len(steps.closures_in_force) == len({e.offset_s for e in scenario.events})
    await _agrees_with_database(running.pool, run, summary, steps)


async def _agrees_with_database(
    pool: asyncpg.Pool, run: DrillRun, summary: dict, steps: _StepsAgree
) -> None:
    """The report's figures are what a query on the database says of the run."""
    d = summary["decisions"]
    run_id, tag = str(run.run_id), run_tag(run.run_id)
    ids = steps.residents
    async with pool.acquire() as conn:
        alerts = await conn.fetch(_ALERT_FIGURES, run_id, ids, tag)
        reach = await conn.fetch(_REACH, run_id, ids)
        people = await conn.fetch(
            """SELECT id, drills, cardinality(needs) > 0 AS vulnerable FROM subscribers
               WHERE id = ANY($1::uuid[])""",
            ids,
        )
        not_opted_in, outsiders = await conn.fetchrow(_NOT_OPTED_IN, run_id, ids)
        rejected = await conn.fetch(_REJECTED, f"{tag}.".encode())
        in_force = await conn.fetchval(_IN_FORCE, tag, run_id)
    # Alerts issued and drafted, each with its residents targeted and reached (deliveries).
    figures = ("level", "status", "hazard", "area", "exercise", "targeted", "reached")
    held = sorted(tuple(r[k] for k in figures) for r in alerts)
    assert sorted(tuple(a[k] for k in figures) for a in d["alerts"]) == held
    assert all(a["exercise"] for a in d["alerts"])
    assert Counter(a["status"] for a in d["alerts"]) == Counter(r["status"] for r in alerts)
    _residents_agree(d["residents"], run, reach, people)
    assert d["residents"]["not_opted_in_reached"] == not_opted_in == 0
    assert outsiders == 0  # nobody who did not opt in, of this run or any other
    assert d["dlq"] == {r["topic"]: r["n"] for r in rejected}
    # Closures: in force after each step as the database held them (see _StepsAgree), so the
    # most at once is the database's; nothing of the drill stays in force after it.
    assert d["closures"]["max_active"] == max(steps.closures_in_force, default=0)
    assert in_force == 0


def _residents_agree(
    shown: dict[str, Any], run: DrillRun, reach: list[asyncpg.Record], people: list
) -> None:
    group_of = {r.id: r.group for r in drill_residents(run.scenario, Localiser(run.run_id))}
    assert len(people) == len(group_of) == shown["total"]
    assert shown["opted_in"] == sum(p["drills"] for p in people)
    assert shown["vulnerable"] == sum(p["vulnerable"] for p in people)
    per_level: dict[str, Counter] = {}
    for r in reach:
        per_level.setdefault(str(r["level"]), Counter())["targeted"] += 1
        per_level[str(r["level"])]["reached"] += r["delivered"]
    assert shown["per_level"] == {lv: {"targeted": c["targeted"], "reached": c["reached"]}
                                  for lv, c in sorted(per_level.items())}  # fmt: skip
    reached = {r["subscriber_id"] for r in reach if r["delivered"]}
    groups: dict[str, dict[str, int]] = {}
    for p in people:
        g = groups.setdefault(group_of[p["id"]], {"count": 0, "opted_in": 0, "reached": 0})
        g["count"] += 1
        g["opted_in"] += p["drills"]
        g["reached"] += p["id"] in reached
    assert shown["groups"] == groups


async def test_two_virtual_runs_make_the_same_decisions(
    settings: Settings, running: Running
) -> None:
    scenario = load_scenario(SCENARIOS / "landslide_night.jsonl")
    first, one, _ = await _run(settings, running, scenario)
    second, two, _ = await _run(settings, running, scenario)
    assert first.run_id != second.run_id
    assert one["decisions"] == two["decisions"]


# --- small scenarios of their own ----------------------------------------------------------


def _small_scenario(tmp_path: Path, name: str, events: list[dict[str, Any]]) -> Scenario:
    """Write a scenario on the generated town with the typhoon's gauge, nobody living there,
    and ``events``; return it as read back."""
    typhoon = json.loads(
        (SCENARIOS / "typhoon_river_flood.jsonl").read_text(encoding="utf-8").split("\n", 1)[0]
    )
    header = {"format": typhoon["format"], "name": name, "city": typhoon["city"],
              "start": typhoon["start"], "stations": typhoon["stations"]}  # fmt: skip
    path = tmp_path / f"{name}.jsonl"
    lines = [json.dumps(x, ensure_ascii=False) for x in (header, *events)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_scenario(path)


def _reading(offset_s: float, level_m: float | str) -> dict[str, Any]:
    minute, second = divmod(int(offset_s), 60)
    payload = {"station_id": "gauge-1", "level_m": level_m,
               "observed_at": f"2019-10-12T15:{minute:02d}:{second:02d}+09:00"}  # fmt: skip
    return {"offset_s": offset_s, "topic": topics.RIVER_RAW, "key": "gauge-1",
            "payload": payload}  # fmt: skip


@asynccontextmanager
async def _river_tail(bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer of ``river.raw`` from its current end: it sees only what comes next."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        parts = [TopicPartition(topics.RIVER_RAW, p)
                 for p in range(topics.PARTITIONS[topics.RIVER_RAW])]  # fmt: skip
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:  # resolve the end offsets now, before anything is produced
            await consumer.position(tp)
        yield consumer
    finally:
        await consumer.stop()


async def _records_with_key(
    consumer: AIOKafkaConsumer, key: bytes, count: int
) -> list[ConsumerRecord]:
    found: list[ConsumerRecord] = []

    async def collected() -> bool:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            found.extend(r for r in records if r.key == key)
        return len(found) >= count

    await wait_until(collected, timeout_s=30)
    return sorted(found, key=lambda r: (r.partition, r.offset))


async def test_a_paced_replay_keeps_the_scenarios_timing(
    settings: Settings, running: Running, tmp_path: Path
) -> None:
    """At 30x (not the default 60x), readings 15, 45 and 75 s after the first reach the raw
    topic in order, each no earlier than its offset / speed after the run's start, and not
    long after."""
    assert settings.kafka is not None
    speed, offsets_s = 30.0, [0.0, 15.0, 45.0, 75.0]
    levels_m = [1.2, 1.15, 1.1, 1.05]  # falling, under every threshold: no alert to wait for
    events = [_reading(s, m) for s, m in zip(offsets_s, levels_m, strict=True)]
    scenario = _small_scenario(tmp_path, "paced", events)
    run_id = uuid.uuid4()
    options = DrillOptions(virtual=False, speed=speed, run_id=run_id)
    async with _river_tail(settings.kafka) as tail:
        run = await run_drill(settings, running.pool, scenario, options)
        key = f"{run_tag(run_id)}.gauge-1".encode()
        records = await _records_with_key(tail, key, len(events))
    assert len(records) == len(events)
    assert [json.loads(r.value)["level_m"] for r in records] == levels_m  # in order
    assert run.observer.wall0 is not None  # the database's clock when pacing began
    start_s = run.observer.wall0.timestamp()
    after_s = [r.timestamp / 1000 - start_s for r in records]  # producer's clock, in ms
    for offset_s, seen_s in zip(offsets_s, after_s, strict=True):
        due_s = offset_s / speed
        assert due_s - 0.002 <= seen_s <= due_s + 3.0, (offset_s, after_s)
    assert run.wall_s >= offsets_s[-1] / speed
    assert summarise(run)["measured"]["mode"] == "30x"


async def test_a_runs_rejected_inputs_are_counted_as_the_database_holds_them(
    settings: Settings, running: Running, tmp_path: Path
) -> None:
    """Two malformed readings, one of them without a key, are each in the report's DLQ (and
    another source's rejected record with a key that is not UTF-8 does not upset counting)."""
    async with running.pool.acquire() as conn:
        await store.record_rejected(
            conn, topic=topics.RIVER_RAW, partition=0, offset=0, key=b"\xff\xfe", value=b"?",
            reason="test: a binary key",
        )  # fmt: skip
    rain = {"sensor_id": "rain-1", "kind": "rain_rate", "value": "lots",
            "observed_at": "2019-10-12T15:02:00+09:00"}  # fmt: skip
    events = [
        _reading(0, 1.2),
        _reading(60, "high"),
        {"offset_s": 120, "topic": topics.SENSOR_RAW, "payload": rain},  # no key
    ]
    scenario = _small_scenario(tmp_path, "rejects", events)
    run, summary, steps = await _run(settings, running, scenario)
    assert summary["decisions"]["dlq"] == {topics.RIVER_RAW: 1, topics.SENSOR_RAW: 1}
    await _agrees_with_database(running.pool, run, summary, steps)
