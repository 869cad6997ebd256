"""The README's demo command, end to end on embedded defaults (broker started by the command)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.support import run_cli


async def test_the_demo_replays_a_rising_river_and_reaches_only_residents_inside(
    fresh_database: object, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISASTER_KAFKA"}
    env |= {
        "DISASTER_DATABASE_URL": await fresh_database(),  # type: ignore[operator]
        "DISASTER_STATE_DIR": str(tmp_path),
        "DISASTER_HTTP_PORT": "0",
    }
    code, out, err = await run_cli("demo", "--once", "--interval-s", "0", env=env, timeout_s=120)
    assert code == 0, err
    assert "API at http://127.0.0.1:" in out
    assert "【警戒レベル4】" in out
    assert re.search(
        r"delivered (\d+) of \1 alert messages \(\d+ alerts\) to the 5 residents "
        r"inside; 0 to the 3 outside",
        out,
    ), out
    assert not (tmp_path / "tansu.json").exists(), "the embedded broker was not stopped"
