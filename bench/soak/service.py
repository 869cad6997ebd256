"""The service under soak: ``running_services(settings, "all")`` in a process of its own.

One process holds every role (ingest, rules, notify with its delivery workers, the web API), as
a small city's single server would run it, so its resident set is the service's memory. Every
log record at ERROR or above is counted (and the first few kept) and sent back when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from disaster.services import running_services
from disaster.settings import load_settings

__all__ = ["ErrorCounter", "run_service"]

_KEPT = 10


class ErrorCounter(logging.Handler):
    """Counts records at ERROR and above, keeping the first few messages."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record; keep its text if it is among the first."""
        self.count += 1
        if len(self.first) < _KEPT:
            self.first.append(f"{record.name}: {record.getMessage()}"[:300])


async def _serve(overrides: dict[str, Any], report: Connection, stop: Event) -> None:
    settings = load_settings(**overrides)
    async with running_services(settings, "all") as running:
        report.send(running.base_url)
        await asyncio.to_thread(stop.wait)


def run_service(overrides: dict[str, Any], log_file: Path, report: Connection, stop: Event) -> None:
    """Process entry point: serve until ``stop``; then send ``(errors, first messages)``."""
    counter = ErrorCounter()
    logging.basicConfig(
        filename=log_file, level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )  # fmt: skip
    logging.getLogger().addHandler(counter)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(overrides, report, stop))
    report.send((counter.count, counter.first))
    report.close()
