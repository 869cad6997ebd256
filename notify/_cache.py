"""Per-alert facts a long-running worker keeps: bounded, so a season of alerts is not kept."""

from __future__ import annotations

from collections.abc import Collection, MutableMapping
from typing import TypeVar

__all__ = ["forget_beyond"]

K = TypeVar("K")
V = TypeVar("V")

#: Alerts whose facts a worker keeps; a city's alerts in force at once are far fewer.
KEEP = 256


def forget_beyond(cache: MutableMapping[K, V], needed: Collection[K | None]) -> None:
    """Drop the oldest entries beyond :data:`KEEP`, never one in ``needed`` (the batch at hand).

    What is dropped is read again from Postgres if it is ever needed: a cache, not a record.
    """
    excess = len(cache) - KEEP
    if excess <= 0:
        return
    for key in [k for k in cache if k not in needed][:excess]:  # oldest first (insertion)
        del cache[key]
