"""Drills (防災訓練): record, replay and report scenarios through the running system.

A scenario (:mod:`~disaster.drill.scenario`, documented in ``scenarios/README.md``) is replayed
by :func:`run_drill` through the same Kafka topics and code as a real night, its inputs made
the run's own and marked as an exercise (:mod:`~disaster.drill.localise`,
:mod:`disaster.exercise`); :func:`summarise` turns what the run observed in Postgres into the
report's numbers, :func:`check_outcomes` checks the scenario's expected outcomes and
:func:`write_report` writes ``report.html`` and ``summary.json``. :func:`record_scenario`
captures the raw topics into a scenario file. ``disaster drill run|record`` is
:mod:`~disaster.drill.cli`.
"""

from disaster.drill.outcomes import check_outcomes, outcome_lines
from disaster.drill.record import record_scenario
from disaster.drill.report import write_report
from disaster.drill.run import DrillOptions, DrillRun, StepHook, run_drill
from disaster.drill.scenario import Scenario, ScenarioError, dump_scenario, load_scenario
from disaster.drill.summary import summarise

__all__ = [
    "DrillOptions",
    "DrillRun",
    "Scenario",
    "ScenarioError",
    "StepHook",
    "check_outcomes",
    "dump_scenario",
    "load_scenario",
    "outcome_lines",
    "record_scenario",
    "run_drill",
    "summarise",
    "write_report",
]
