"""Each shipped scenario replayed under the virtual clock through the running service."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from disaster.drill.outcomes import check_outcomes
from disaster.drill.report import write_report
from disaster.drill.run import DrillOptions, run_drill
from disaster.drill.scenario import load_scenario
from disaster.drill.summary import summarise
from disaster.services import Running
from disaster.settings import Settings

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


async def _run(settings: Settings, running: Running, name: str):
    scenario = load_scenario(SCENARIOS / f"{name}.jsonl")
    run = await run_drill(settings, running.pool, scenario, DrillOptions(virtual=True))
    summary = summarise(run, [])
    outcomes = check_outcomes(scenario, summary["decisions"])
    return run, summarise(run, outcomes)


@pytest.mark.parametrize("name", ["typhoon_river_flood", "earthquake_shibuya", "landslide_night"])
async def test_a_shipped_scenario_meets_its_expected_outcomes(
    settings: Settings, running: Running, name: str, tmp_path: Path
) -> None:
    run, summary = await _run(settings, running, name)
    failed = [o for o in summary["outcomes"] if not o["passed"]]
    assert not failed, failed
    page = write_report(summary, tmp_path)
    assert "<img" in page.read_text(encoding="utf-8")
    await _agrees_with_database(running.pool, run.run_id, summary)


async def _agrees_with_database(pool: asyncpg.Pool, run_id: uuid.UUID, summary: dict) -> None:
    decisions = summary["decisions"]
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT a.id, a.level, a.exercise FROM alerts a
               JOIN hazard_events e ON e.id = a.hazard_event_id
               WHERE e.body->>'exercise_run' = $1""",
            str(run_id),
        )
        reached = await conn.fetchval(
            """SELECT count(*) FROM deliveries WHERE alert_id = ANY($1::uuid[])
               AND channel = 'inbox' AND status = 'delivered'""",
            [r["id"] for r in rows],
        )
        outsiders = await conn.fetchval(
            """SELECT count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
               WHERE d.alert_id = ANY($1::uuid[]) AND NOT s.drills""",
            [r["id"] for r in rows],
        )
    assert sorted(r["level"] for r in rows) == sorted(a["level"] for a in decisions["alerts"])
    assert all(r["exercise"] for r in rows)
    assert outsiders == 0
    assert decisions["residents"]["not_opted_in_reached"] == 0
    # Other runs' residents may be in the area too: the run's own are a part of the total.
    assert sum(a["reached"] for a in decisions["alerts"]) <= reached


async def test_two_virtual_runs_make_the_same_decisions(
    settings: Settings, running: Running
) -> None:
    first, one = await _run(settings, running, "landslide_night")
    second, two = await _run(settings, running, "landslide_night")
    assert first.run_id != second.run_id
    assert one["decisions"] == two["decisions"]
