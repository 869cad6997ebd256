"""What ``/healthz`` reports: each component of this process, and what is wrong with it.

Components register a check that returns None when all is well, else a sentence naming the
problem ("database unreachable: ..."). A check that does not answer within the timeout counts
as failing, so a hung dependency shows as degraded rather than hanging the health probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

__all__ = ["HEALTH", "Check", "HealthBoard"]

Check = Callable[[], Awaitable[str | None]]


class HealthBoard:
    """The named checks of one process."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        """Register ``check`` under ``name`` (replacing one of the same name)."""
        self._checks[name] = check

    def watch(self, name: str, problem: Callable[[], str | None]) -> None:
        """Register a component that keeps its own state: ``problem()`` says what is wrong."""

        async def check() -> str | None:
            return problem()

        self.add(name, check)

    async def report(self, *, timeout_s: float = 2.0) -> dict[str, Any]:
        """Run every check at once; return the ``/healthz`` body.

        ``{"status": "ok" | "degraded", "failing": [names], "components": {name: {"status":
        "ok"} | {"status": "failing", "problem": text}}}``.
        """
        names = sorted(self._checks)
        problems = await asyncio.gather(*(_bounded(self._checks[n], timeout_s) for n in names))
        components = {
            name: {"status": "ok"} if problem is None else {"status": "failing", "problem": problem}
            for name, problem in zip(names, problems, strict=True)
        }
        failing = [name for name, problem in zip(names, problems, strict=True) if problem]
        return {
            "status": "degraded" if failing else "ok",
            "failing": failing,
            "components": components,
        }


async def _bounded(check: Check, timeout_s: float) -> str | None:
    try:
        async with asyncio.timeout(timeout_s):
            return await check()
    except TimeoutError:
        return f"no answer within {timeout_s} s"


#: The app's board: the app adds its database, broker and listener checks to it.
HEALTH = web.AppKey("health", HealthBoard)
