"""``disaster serve --role web`` serves the API and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import aiohttp

from disaster.settings import Settings


async def test_serve_web_answers_health_and_stops_on_sigterm(
    settings: Settings, bootstrap: str
) -> None:
    env = {**os.environ, "DISASTER_DATABASE_URL": settings.database_url or "",
           "DISASTER_KAFKA": bootstrap, "DISASTER_HTTP_PORT": "0"}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "disaster", "serve", "--role", "web", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        match = re.search(r"serving the API at (http://\S+)/api/v1", line)
        assert match, line
        async with aiohttp.ClientSession() as http, http.get(f"{match[1]}/healthz") as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
