"""Checking a scenario's expected outcomes against a run's ``decisions``. Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from disaster.drill.scenario import Expectation, Scenario

__all__ = ["check_outcomes", "outcome_lines"]

Check = Callable[[Expectation, dict[str, Any], dict[str, float]], tuple[bool, str]]


def _counted(e: Expectation, d: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerts an expectation speaks of: issued ones unless it says drafts (or any)."""
    return [a for a in d["alerts"] if e.status in ("any", a["status"])]


def _alert(e: Expectation, d: dict[str, Any], labels: dict[str, float]) -> tuple[bool, str]:
    deadline = None
    if e.trigger is not None:
        if e.trigger not in labels:
            return False, f"no event labelled {e.trigger!r}"
        deadline = labels[e.trigger] + 60.0 * (e.within_min or 0.0)
    fits = [
        a for a in _counted(e, d)
        if a["level"] >= (e.level_at_least or 1)
        and (e.hazard is None or a["hazard"] == e.hazard)
        and (e.area_contains is None or e.area_contains in a["area"])
        and a["exercise"]
    ]  # fmt: skip
    if not fits:
        return False, "no such alert"
    first = min(a["issued_s"] for a in fits)
    if deadline is not None and first > deadline:
        return False, f"first at {first:.0f} s, after the deadline {deadline:.0f} s"
    return True, f"{len(fits)} alert(s), first at {first:.0f} s"


def _no_alert_above(e: Expectation, d: dict[str, Any], _: dict[str, float]) -> tuple[bool, str]:
    top = max((a["level"] for a in _counted(e, d)), default=0)
    return top <= (e.level_at_least or 5), f"highest level {top}"


def _shelters(_e: Expectation, d: dict[str, Any], _: dict[str, float]) -> tuple[bool, str]:
    over = d["shelters"]["overflows"]
    return not over, f"{len(over)} overflow(s)"


def _group(d: dict[str, Any], e: Expectation) -> dict[str, int]:
    return d["residents"]["groups"].get(e.group or "", {"count": 0, "opted_in": 0, "reached": 0})


def _reached(e: Expectation, d: dict[str, Any], _: dict[str, float]) -> tuple[bool, str]:
    g = _group(d, e)
    share = g["reached"] / g["opted_in"] if g["opted_in"] else 0.0
    return share >= (e.share_at_least or 1.0), f"{g['reached']} of {g['opted_in']} opted in"


def _routed(e: Expectation, d: dict[str, Any], _: dict[str, float]) -> tuple[bool, str]:
    g = d["routes"]["groups"].get(e.group or "", {"routed": 0, "cut_off": 0})
    total = g["routed"] + g["cut_off"]
    share = g["routed"] / total if total else 0.0
    return total > 0 and share >= (e.share_at_least or 1.0), f"{g['routed']} of {total} routed"


def _cut_off(e: Expectation, d: dict[str, Any], _: dict[str, float]) -> tuple[bool, str]:
    g = d["routes"]["groups"].get(e.group or "", {"routed": 0, "cut_off": 0})
    return g["cut_off"] >= (e.count or 1), f"{g['cut_off']} cut off"


def _closures(e: Expectation, d: dict[str, Any], _: dict[str, float]) -> tuple[bool, str]:
    top = d["closures"]["max_active"]
    return top >= (e.count or 1), f"at most {top} closures in force at once"


def _weather(e: Expectation, d: dict[str, Any], _: dict[str, float]) -> tuple[bool, str]:
    n = sum(1 for a in _counted(e, d) if a["event"] == "weather.report")
    return n >= (e.count or 0), f"{n} weather alert(s)"


def _dlq(e: Expectation, d: dict[str, Any], _: dict[str, float]) -> tuple[bool, str]:
    n = sum(d["dlq"].values())
    return n <= (e.count or 0), f"{n} rejected"


def _drills_only(_e: Expectation, d: dict[str, Any], _: dict[str, float]) -> tuple[bool, str]:
    n = d["residents"]["not_opted_in_reached"]
    marked = all(a["exercise"] for a in d["alerts"])
    return n == 0 and marked, f"{n} not opted in reached; all marked exercise: {marked}"


_CHECKS: dict[str, Check] = {
    "alert": _alert, "no_alert_above": _no_alert_above, "no_shelter_over_capacity": _shelters,
    "group_reached": _reached, "group_routed": _routed, "group_cut_off": _cut_off,
    "closures_at_least": _closures, "weather_reports_at_least": _weather, "dlq_at_most": _dlq,
    "drills_only": _drills_only,
}  # fmt: skip


def check_outcomes(scenario: Scenario, decisions: dict[str, Any]) -> list[dict[str, Any]]:
    """Return each expectation with ``passed`` and what was found."""
    labels = scenario.labels()
    results = []
    for e in scenario.header.expect:
        passed, found = _CHECKS[e.kind](e, decisions, labels)
        results.append({**e.model_dump(exclude_none=True), "passed": passed, "found": found})
    return results


def outcome_lines(outcomes: list[dict[str, Any]]) -> list[str]:
    """Return one readable line per checked outcome, failures marked ``FAILED``."""
    lines = []
    for o in outcomes:
        mark = "passed" if o["passed"] else "FAILED"
        note = f" {o['note']}" if o.get("note") else ""
        lines.append(f"  {mark}: {o['kind']}{note} ({o['found']})")
    return lines
