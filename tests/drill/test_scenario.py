"""Scenario files: the shipped ones parse; a malformed line is refused by its number."""

from __future__ import annotations

from pathlib import Path

import pytest

from disaster.drill.scenario import ScenarioError, load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
_HEADER = '{"name": "t", "city": {"kind": "generated"}, "start": "2020-01-01T00:00:00+09:00"}'


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.jsonl")), ids=lambda p: p.stem)
def test_the_shipped_scenarios_parse(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.events
    assert scenario.header.expect


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "t:3: not JSON"),
        ('{"offset_s": 5, "topic": "nope.raw", "payload": {}}', "t:3: .*unknown topic 'nope.raw'"),
        ('{"offset_s": 1, "topic": "river.raw", "payload": {}}', "before the previous line"),
    ],
)
def test_a_malformed_line_is_refused_with_its_number(line: str, reason: str) -> None:
    first = '{"offset_s": 2, "topic": "river.raw", "payload": {}}'
    with pytest.raises(ScenarioError, match=reason):
        parse_scenario([_HEADER, first, line], "t")
