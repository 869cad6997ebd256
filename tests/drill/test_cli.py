"""``disaster drill run|record`` as an operator runs them, against the session's broker and
database (the command runs its own pipeline, beside the one the other tests may run)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from disaster import topics
from disaster._kafka import encode_json
from disaster.drill.scenario import Expectation, dump_scenario, load_scenario
from disaster.settings import Settings
from tests.support import run_cli

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    assert settings.database_url is not None
    assert settings.kafka is not None
    return {
        **os.environ,
        "DISASTER_DATABASE_URL": settings.database_url,
        "DISASTER_KAFKA": settings.kafka,
        "DISASTER_STATE_DIR": str(tmp_path / "state"),
        "DISASTER_GROUP_PREFIX": f"cli-{uuid.uuid4().hex[:8]}",
        "DISASTER_HTTP_PORT": "0",
    }


def _impossible(tmp_path: Path) -> Path:
    """The earthquake scenario, expecting an alert no rule may issue on its own."""
    scenario = load_scenario(SCENARIOS / "earthquake_shibuya.jsonl")
    never = Expectation(kind="alert", level_at_least=5, note="impossible: level 5 by itself")
    header = scenario.header.model_copy(update={"expect": [*scenario.header.expect, never]})
    path = tmp_path / "impossible.jsonl"
    dump_scenario(scenario.model_copy(update={"header": header}), path)
    return path


def _report(out_dir: Path) -> dict:
    page = (out_dir / "report.html").read_text(encoding="utf-8")
    assert page.count('<img alt="') >= 3  # the plots, embedded
    assert 'src="data:image/png;base64,' in page
    return json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))


async def test_drill_run_replays_a_scenario_and_writes_its_report(
    settings: Settings, tmp_path: Path
) -> None:
    env = _env(settings, tmp_path)
    scenario = str(SCENARIOS / "earthquake_shibuya.jsonl")
    out_dir = tmp_path / "report"
    code, out, err = await run_cli(
        "drill", "run", scenario, "--virtual", "--report", str(out_dir), env=env, timeout_s=120
    )
    assert code == 0, out + err
    assert "all outcomes met" in out
    assert "FAILED" not in out
    summary = _report(out_dir)
    assert summary["passed"]
    assert {a["status"] for a in summary["decisions"]["alerts"]} == {"issued", "draft"}


async def test_drill_run_exits_non_zero_and_lists_an_unmet_outcome(
    settings: Settings, tmp_path: Path
) -> None:
    env = _env(settings, tmp_path)
    out_dir = tmp_path / "report"
    scenario = await asyncio.to_thread(_impossible, tmp_path)
    code, out, err = await run_cli(
        "drill", "run", str(scenario), "--virtual", "--report", str(out_dir), env=env,
        timeout_s=120,
    )  # fmt: skip
    assert code == 1, out + err
    assert "FAILED: alert impossible: level 5 by itself (no such alert)" in out
    assert "outcomes FAILED" in out
    summary = _report(out_dir)
    assert not summary["passed"]
    assert [o["note"] for o in summary["outcomes"] if not o["passed"]] == [
        "impossible: level 5 by itself"
    ]


async def test_drill_record_captures_what_passes_on_the_raw_topics(
    settings: Settings, producer: AIOKafkaProducer, tmp_path: Path
) -> None:
    out = tmp_path / "recorded.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "disaster", "drill", "record", "--out", str(out),
        "--duration", "5", "--name", "recorded", env=_env(settings, tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    station = f"rec-{uuid.uuid4().hex[:8]}"
    sent = []
    # The recorder starts at the topics' ends once it is up: produce until it has finished.
    while proc.returncode is None:
        minute, second = divmod(len(sent), 60)
        at = f"2024-06-01T00:{minute:02d}:{second:02d}+09:00"
        body = {"station_id": station, "level_m": 1.0 + 0.01 * len(sent), "observed_at": at}
        await producer.send_and_wait(topics.RIVER_RAW, encode_json(body), key=station.encode())
        sent.append(body)
        try:
            await asyncio.wait_for(proc.wait(), 0.25)
        except TimeoutError:
            assert len(sent) < 400, "drill record did not finish"
    stdout, stderr = await proc.communicate()
    assert proc.returncode == 0, stdout.decode() + stderr.decode()
    mine = [e.payload for e in load_scenario(out).events if e.key == station]
    assert mine, "nothing produced while recording was captured"
    first = sent.index(mine[0])
    assert mine == sent[first : first + len(mine)]  # in order, none missing in between
    assert f"recorded {len(load_scenario(out).events)} records" in stdout.decode()
