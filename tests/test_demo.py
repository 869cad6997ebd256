"""The README's demo command, end to end on embedded defaults (broker started by the command)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.support import run_cli


async def test_the_demo_replays_the_typhoon_drill_on_the_generated_town(
    fresh_database: object, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISASTER_KAFKA"}
    env |= {
        "DISASTER_DATABASE_URL": await fresh_database(),  # type: ignore[operator]
        "DISASTER_STATE_DIR": str(tmp_path),
        "DISASTER_HTTP_PORT": "0",
    }
    code, out, err = await run_cli("demo", "--once", "--virtual", env=env, timeout_s=120)
    assert code == 0, out + err
    assert re.search(r"API at http://127\.0\.0\.1:\d+/api/v1/alerts", out), out
    assert re.search(r"dashboard at http://127\.0\.0\.1:\d+/dashboard", out), out
    assert re.search(r"city: \d+ shelters, [1-9]\d* buildings", out), out  # the 3D city model
    assert re.search(r"level 4 flood alert ISSUED: 【警戒レベル4】", out), out
    assert "drafted for HQ to approve" in out  # a sensor threshold waits for an operator
    assert re.search(r"[1-9]\d* messages delivered to residents' inboxes", out), out
    assert ", 0 of the others reached" in out  # residents who did not opt into drills
    assert "FAILED" not in out
    _check_report(out, tmp_path)
    assert not (tmp_path / "tansu.json").exists(), "the embedded broker was not stopped"


def _check_report(out: str, state_dir: Path) -> None:
    """The printed report path is in the state dir: a page with plots and a passed summary."""
    found = re.search(r"drill report: (\S+report\.html)", out)
    assert found, out
    report = Path(found.group(1))
    assert report.is_relative_to(state_dir)
    assert "<img" in report.read_text(encoding="utf-8")
    summary = json.loads((report.parent / "summary.json").read_text(encoding="utf-8"))
    assert summary["passed"]
    assert summary["outcomes"]
