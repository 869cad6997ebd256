"""How drill (訓練) traffic is told apart from real traffic on Kafka.

A drill replays inputs exactly as their sources publish them, so the mark cannot live in the
payload: it is a record header, ``disaster-exercise``, whose value is the drill run's id. The
ingestors copy it onto the hazard events they cause (``exercise_run``), the rules turn such
events into alerts with ``exercise=True`` (CAP status Exercise), and the notifier sends those
only to residents who opted into drills. Records without the header are real, as before.
"""

from __future__ import annotations

from aiokafka import ConsumerRecord

__all__ = ["EXERCISE_HEADER", "exercise_headers", "exercise_run_of"]

EXERCISE_HEADER = "disaster-exercise"


def exercise_headers(run_id: str) -> list[tuple[str, bytes]]:
    """Return the headers that mark a produced record as part of drill run ``run_id``."""
    return [(EXERCISE_HEADER, run_id.encode())]


def exercise_run_of(record: ConsumerRecord) -> str | None:
    """Return the drill run a consumed record belongs to, or None for real traffic."""
    for name, value in record.headers or ():
        if name == EXERCISE_HEADER and value:
            return bytes(value).decode(errors="replace")[:100]
    return None
