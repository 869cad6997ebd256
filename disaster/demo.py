"""The demo: a shipped drill replayed on the generated town, so a newcomer sees the system work.

The typhoon river flood (``scenarios/typhoon_river_flood.jsonl``) plays on the same generated
town the demo loads as its city, and goes through the real pipeline: its inputs are accepted
and published to the raw topics, ingested, turned into alerts by the rules and delivered to the
residents' inboxes, exactly as a real night's would be (marked as an exercise, 訓練). The
narrative printed here is read back from Postgres by the drill's observer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from disaster.drill.localise import run_tag
from disaster.drill.observe import Observer
from disaster.drill.outcomes import check_outcomes, outcome_lines
from disaster.drill.report import write_report
from disaster.drill.run import DrillOptions, run_drill
from disaster.drill.scenario import Scenario, ScenarioEvent, load_scenario
from disaster.drill.summary import summarise
from disaster.settings import Settings

__all__ = ["DEMO_SCENARIO", "Narrator", "demo_scenario_path", "run_demo"]

_JST = ZoneInfo("Asia/Tokyo")
#: The shipped scenario the demo replays; it plays on the generated town of seed 0.
DEMO_SCENARIO = "typhoon_river_flood.jsonl"
_TITLE = re.compile(r"<Title>([^<]*)</Title>")

Say = Callable[[str], None]


def demo_scenario_path() -> Path:
    """Return the demo's scenario file, in the repository's ``scenarios/``."""
    return Path(__file__).resolve().parent.parent / "scenarios" / DEMO_SCENARIO


def _describe(event: ScenarioEvent) -> str | None:
    """One line for an input worth telling a newcomer about, or None."""
    p = event.payload
    label = f"  [{event.label}]" if event.label else ""
    if event.topic == "river.raw":
        return f"gauge {p['station_id']}: {p['level_m']:.2f} m{label}"
    if event.topic == "weather.raw":
        title = _TITLE.search(p) if isinstance(p, str) else None
        return f"JMA telegram: {title.group(1) if title else 'weather report'}{label}"
    if event.topic == "incident.raw":
        return f"incident report: {p.get('kind')} ({p.get('severity')}) {p.get('description', '')}"
    if event.topic == "shelter.status":
        return f"shelter {p['shelter_id']} reports {p['occupancy']} people inside"
    if event.topic == "resident.answer":
        return f"resident #{p['resident']} answers: {p['status']}"
    return f"sensor reading{label}" if event.label else None


class Narrator:
    """Prints what each step put in and what the system did with it."""

    def __init__(self, scenario: Scenario, say: Say) -> None:
        self._start = scenario.header.start
        self._say = say
        self._alerts_seen = 0
        self._delivered = 0

    def __call__(self, offset_s: float, step: list[ScenarioEvent], observer: Observer) -> None:
        """Narrate one observed step (a :data:`disaster.drill.run.StepHook`)."""
        clock = (self._start + timedelta(seconds=offset_s)).astimezone(_JST)
        for line in filter(None, map(_describe, step)):
            self._say(f"  {clock:%H:%M} JST  {line}")
        alerts = sorted(observer.alerts.values(), key=lambda a: a.n)
        for alert in alerts[self._alerts_seen :]:
            what = "ISSUED" if alert.status == "issued" else "drafted for HQ to approve"
            self._say(f"             → level {alert.level} {alert.hazard} alert {what}: "
                      f"{alert.headline or alert.area_name}")  # fmt: skip
        self._alerts_seen = len(alerts)
        delivered = sum(1 for _, _, s in observer.deliveries.values() if s == "delivered")
        if delivered > self._delivered:
            self._say(f"             → {delivered - self._delivered} messages delivered to "
                      f"residents' inboxes ({delivered} so far)")  # fmt: skip
        self._delivered = delivered


async def run_demo(
    settings: Settings, pool: asyncpg.Pool, say: Say, *, virtual: bool, speed: float
) -> bool:
    """Replay the demo's drill, write its report to the state dir; return True if the
    scenario's expected outcomes were all met."""
    scenario = load_scenario(demo_scenario_path())
    header = scenario.header
    span_s = scenario.events[-1].offset_s if scenario.events else 0.0
    pace = "on the virtual clock" if virtual else f"at {speed:g}x (about {span_s / speed:.0f} s)"
    say(f"drill 【訓練】 {header.title}: {len(scenario.events)} inputs over "
        f"{span_s / 3600:.1f} h of scenario time, replayed {pace}")  # fmt: skip
    options = DrillOptions(virtual=virtual, speed=speed)
    run = await run_drill(settings, pool, scenario, options, on_step=Narrator(scenario, say))
    summary = summarise(run, check_outcomes(scenario, summarise(run)["decisions"]))
    residents = summary["decisions"]["residents"]
    say(f"{len(summary['decisions']['alerts'])} alerts; {residents['opted_in']} of "
        f"{residents['total']} residents opted into drills, "
        f"{residents['not_opted_in_reached']} of the others reached")  # fmt: skip
    for line in outcome_lines(summary["outcomes"]):
        say(line)
    out = settings.state_dir / "drills" / f"{header.name}-{run_tag(run.run_id)}"
    say(f"drill report: {write_report(summary, out)} (and summary.json)")
    return bool(summary["passed"])
