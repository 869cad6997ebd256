"""``disaster drill run|record``: argument parsing and the glue to the running service."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from disaster.drill.outcomes import check_outcomes, outcome_lines
from disaster.drill.record import record_scenario
from disaster.drill.report import write_report
from disaster.drill.run import DrillOptions, run_drill
from disaster.drill.scenario import ScenarioError, load_scenario
from disaster.drill.summary import summarise
from disaster.services import running_services
from disaster.settings import Settings

__all__ = ["add_drill_parser", "drill_command"]


def add_drill_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``drill run`` and ``drill record`` to the ``disaster`` parser."""
    drill = commands.add_parser("drill", help="replay or record a scenario (訓練)")
    sub = drill.add_subparsers(dest="drill_command", required=True)
    run = sub.add_parser("run", help="replay a scenario through the running pipeline")
    run.add_argument("scenario", type=Path)
    run.add_argument("--speed", type=float, default=60.0, help="times real time (default 60)")
    run.add_argument("--virtual", action="store_true", help="virtual clock: fast, deterministic")
    run.add_argument("--report", type=Path, default=None, help="write report.html and JSON here")
    run.add_argument("--run-id", type=uuid.UUID, default=None, help="default: a new one")
    record = sub.add_parser("record", help="capture the raw topics into a scenario file")
    record.add_argument("--out", type=Path, required=True)
    record.add_argument("--duration", type=float, required=True, help="seconds")
    record.add_argument("--name", default="recorded")


async def drill_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``drill run`` or ``drill record``; return the exit status."""
    assert settings.kafka is not None
    if args.drill_command == "record":
        count = await record_scenario(settings.kafka, args.out, args.duration, args.name)
        print(f"recorded {count} records into {args.out}")
        return 0
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"disaster: {exc}", file=sys.stderr)
        return 2
    options = DrillOptions(virtual=args.virtual, speed=args.speed, run_id=args.run_id)
    # The whole pipeline runs here, the ingress publisher included (it publishes the drill's
    # accepted input), beside any service already running: consumer groups share the work.
    # Its web role listens on a free port, leaving the configured one to such a service.
    here = settings.model_copy(update={"http_port": 0})
    async with running_services(here, "all") as running:
        run = await run_drill(here, running.pool, scenario, options)
    summary = summarise(run, check_outcomes(scenario, summarise(run)["decisions"]))
    for line in outcome_lines(summary["outcomes"]):
        print(line)
    print(f"drill run {run.run_id}: {len(summary['decisions']['alerts'])} alerts, "
          f"{'all outcomes met' if summary['passed'] else 'outcomes FAILED'}")  # fmt: skip
    if args.report is not None:
        print(f"report: {write_report(summary, args.report)}")
    return 0 if summary["passed"] else 1
