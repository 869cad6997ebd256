"""The embedded broker: a leftover from a crashed run is found and adopted, never doubled."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
import psutil
from aiokafka.admin import AIOKafkaAdminClient

from disaster._pg import apply_migrations, available_migrations
from disaster.embedded import EmbeddedKafka, embedded_postgres_url

# Starts a broker, reports its port, then either dies without cleaning up ("crash") or waits for
# its standard input to close and stops the broker as a clean run does ("own").
_OWNER = """
import os, signal, sys
from pathlib import Path
from disaster._pg import apply_migrations, available_migrations
from disaster.embedded import EmbeddedKafka, embedded_postgres_url
broker = EmbeddedKafka(Path(sys.argv[1]))
print(broker.start().rsplit(":", 1)[1], flush=True)
if sys.argv[2] == "crash":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()
broker.stop()
"""


async def _start_owner(state_dir: Path, mode: str) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _OWNER, str(state_dir), mode,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    port = int(await asyncio.wait_for(proc.stdout.readline(), 30))
    return proc, port


def _brokers_on(port: int) -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.info["cmdline"] and any(f"127.0.0.1:{port}" in a for a in p.info["cmdline"])
    ]


async def _answers(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return isinstance(await admin.list_topics(), list)
    finally:
        await admin.close()


async def test_a_broker_left_by_a_crashed_run_is_adopted_and_stopped(tmp_path: Path) -> None:
    crashed, port = await _start_owner(tmp_path, "crash")
    assert await crashed.wait() == -9
    [leftover] = _brokers_on(port)

    broker = EmbeddedKafka(tmp_path)
    assert broker.start() == f"127.0.0.1:{port}"
    assert broker.owned
    assert _brokers_on(port) == [leftover]
    assert await _answers(broker.bootstrap)

    broker.stop()
    assert not leftover.is_running() or leftover.status() == psutil.STATUS_ZOMBIE
    assert not (tmp_path / "tansu.json").exists()


async def test_a_broker_of_a_live_run_is_borrowed_not_stopped(tmp_path: Path) -> None:
    owner, port = await _start_owner(tmp_path, "own")
    try:
        broker = EmbeddedKafka(tmp_path)
        assert broker.start() == f"127.0.0.1:{port}"
        assert not broker.owned
        broker.stop()
        [running] = _brokers_on(port)
        assert running.is_running()
    finally:
        assert owner.stdin is not None
        owner.stdin.close()
        assert await asyncio.wait_for(owner.wait(), 30) == 0
    assert _brokers_on(port) == []


def test_a_stale_state_file_starts_a_new_broker(tmp_path: Path) -> None:
    (tmp_path / "tansu.json").write_text('{"pid": 999999999, "port": 1, "owner_pid": 1}')
    broker = EmbeddedKafka(tmp_path)
    try:
        bootstrap = broker.start()
        assert broker.owned
        assert bootstrap != "127.0.0.1:1"
        assert broker.record is not None
        assert broker.record.owner_pid == os.getpid()
    finally:
        broker.stop()


async def test_embedded_postgres_serves_migrations_for_machines_without_a_server(
    tmp_path: Path,
) -> None:
    """The fallback the README's commands rely on where no Postgres server runs."""
    url = embedded_postgres_url(tmp_path / "state")
    conn = await asyncpg.connect(url)
    try:
        applied = await apply_migrations(conn)
        assert applied == available_migrations()
        assert await conn.fetchval("SELECT count(*) FROM stations") == 0
    finally:
        await conn.close()
