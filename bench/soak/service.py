"""The service under soak: ``running_services(settings, "all")`` in a process of its own.

One process holds every role (ingest, rules, notify with its delivery workers, the web API), as
a small city's single server would run it, so its resident set is the service's memory. Every
log record at ERROR or above is counted (and the first few kept) and sent back when it stops.
On request (``census`` pipe) it reports what it holds (:func:`census`), so two moments of the
soak can be compared by more than their RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import sys
import threading
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from disaster.services import running_services
from disaster.settings import load_settings

__all__ = ["ErrorCounter", "census", "run_service"]

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


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost",
    )]  # fmt: skip


def _malloc_mib() -> dict[str, float]:
    """glibc's heap: in use by malloc (``used``), free but kept (``free``), mmapped blocks."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):  # not glibc 2.33+
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {"used": info.uordblks / 2**20, "free": info.fordblks / 2**20,
            "mmapped": info.hblkhd / 2**20}  # fmt: skip


def census() -> dict[str, Any]:
    """What this process holds, after a full collection: live Python objects by type (count
    and shallow bytes; the start-up objects ``gc.freeze`` set aside are not among them),
    pymalloc's blocks and glibc's heap (Python's own arenas are mapped apart from it)."""
    gc.collect()
    by_type: dict[str, list[int]] = {}
    for obj in gc.get_objects():
        kind = type(obj)
        entry = by_type.setdefault(f"{kind.__module__}.{kind.__qualname__}", [0, 0])
        entry[0] += 1
        entry[1] += sys.getsizeof(obj, 0)
    return {"by_type": {k: tuple(v) for k, v in by_type.items()},
            "pymalloc_blocks": sys.getallocatedblocks(), "malloc_mib": _malloc_mib()}  # fmt: skip


def _answer_census(requests: Connection) -> None:
    """Answer each request on the pipe with a census, until the pipe closes."""
    with contextlib.suppress(EOFError, OSError):
        while requests.recv() is not None:
            requests.send(census())


async def _serve(overrides: dict[str, Any], report: Connection, stop: Event) -> None:
    settings = load_settings(**overrides)
    async with running_services(settings, "all") as running:
        report.send(running.base_url)
        await asyncio.to_thread(stop.wait)


def run_service(
    overrides: dict[str, Any], log_file: Path, report: Connection, stop: Event,
    census_pipe: Connection,
) -> None:  # fmt: skip
    """Process entry point: serve until ``stop``, taking a census for each request on
    ``census_pipe``; then send ``(errors, first messages)`` on ``report``."""
    counter = ErrorCounter()
    logging.basicConfig(
        filename=log_file, level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )  # fmt: skip
    logging.getLogger().addHandler(counter)
    _malloc_mib()  # its ctypes types now, so that the censuses do not count them
    threading.Thread(target=_answer_census, args=(census_pipe,), daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(overrides, report, stop))
    report.send((counter.count, counter.first))
    report.close()
