"""What a drill run caused, read back from Postgres after each step.

The observer asks the system of record, never the runner's own bookkeeping: the run's alerts
are those whose hazard event carries the run's ``exercise_run``; deliveries, shelter occupancy,
closures and answers are read for the run's own residents, shelters and incidents. Routes are
worked out for each targeted resident with :class:`evac.router.LiveRouter`, the router the
notifier personalises messages with, over the run's shelters and the closures in force then.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from disaster import incident_store, shelter_store
from disaster.domain.shelter import HAZARDS
from disaster.drill.localise import Localiser
from disaster.drill.seed import DrillResident, Seeded
from evac.graph import RoadGraph
from evac.router import LiveRouter

__all__ = ["AlertSeen", "Observer"]


@dataclass
class AlertSeen:
    """A run's alert as first seen: ``at_s`` on the scenario's clock."""

    id: uuid.UUID
    at_s: float
    level: int
    hazard: str
    area_name: str
    status: str
    exercise: bool
    issued_at: datetime
    trigger_s: float
    event_kind: str
    n: int = 0
    headline: str = ""


@dataclass
class Observer:
    """Accumulates the run's timeline, one :meth:`observe` per step."""

    localiser: Localiser
    seeded: Seeded
    graph: RoadGraph
    epoch: datetime
    alerts: dict[uuid.UUID, AlertSeen] = field(default_factory=dict)
    deliveries: dict[tuple[uuid.UUID, uuid.UUID], tuple[float, datetime, str]] = field(
        default_factory=dict
    )
    routes: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    answered: set[uuid.UUID] = field(default_factory=set)
    wall0: datetime | None = None  # set when replaying in real time: times come from the clock
    speed: float = 1.0

    def __post_init__(self) -> None:
        self._router = LiveRouter(self.graph, self.seeded.shelters)
        self._by_id = {r.id: r for r in self.seeded.residents}

    @property
    def residents(self) -> list[DrillResident]:
        """Return the run's residents."""
        return self.seeded.residents

    async def observe(self, conn: asyncpg.Connection, at_s: float) -> None:
        """Record what is in the database now as the state at ``at_s`` scenario seconds."""
        new = await self._new_alerts(conn, at_s)
        await self._new_deliveries(conn, at_s)
        shelters = await self._shelters(conn)
        closures = await self._closures(conn)
        self._router.set_shelters(shelters)
        for closure in closures:
            self._router.apply(closure)
        for alert in new:
            self._route(alert)
        rows = await conn.fetch(
            "SELECT DISTINCT subscriber_id FROM answers WHERE subscriber_id = ANY($1::uuid[])",
            [r.id for r in self.residents],
        )
        self.answered = {row["subscriber_id"] for row in rows}
        reached = {sub for (_, sub), (_, _, status) in self.deliveries.items()
                   if status == "delivered"}  # fmt: skip
        unanswered = [
            r
            for r in self.residents
            if r.vulnerable and r.id in reached and r.id not in self.answered
        ]
        self.timeline.append({
            "at_s": at_s,
            "occupancy": {self._plain(s.id): s.occupancy for s in shelters},
            "closures_active": sum(1 for c in closures if c.active),
            "vulnerable_unanswered": len(unanswered),
        })  # fmt: skip

    def _scenario_s(self, wall: datetime, step_s: float) -> float:
        """On the virtual clock, the step it was seen in; in real time, when it happened."""
        if self.wall0 is None:
            return step_s
        return max(0.0, (wall - self.wall0).total_seconds() * self.speed)

    def _plain(self, own_id: str) -> str:
        return own_id.removeprefix(f"{self.localiser.tag}.")

    async def _new_alerts(self, conn: asyncpg.Connection, at_s: float) -> list[AlertSeen]:
        rows = await conn.fetch(
            """SELECT a.id, a.level, a.hazard, a.area_name, a.status, a.exercise, a.issued_at,
                      a.headline->>'ja' AS headline, e.observed_at, e.kind
               FROM alerts a JOIN hazard_events e ON e.id = a.hazard_event_id
               WHERE e.body->>'exercise_run' = $1""",
            str(self.localiser.run_id),
        )
        for row in rows:  # a draft HQ approved during the drill counts as issued from now on
            if row["id"] in self.alerts:
                self.alerts[row["id"]].status = row["status"]
        fresh = sorted(
            (r for r in rows if r["id"] not in self.alerts),
            key=lambda r: (r["observed_at"], r["level"], r["area_name"], r["hazard"]),
        )
        seen = []
        tag = self.localiser.tag
        for row in fresh:
            trigger_s = (row["observed_at"] - self.epoch).total_seconds()
            at_s = self._scenario_s(row["issued_at"], at_s)
            alert = AlertSeen(
                id=row["id"], at_s=at_s, level=row["level"], hazard=row["hazard"],
                area_name=row["area_name"].replace(f"{tag}.", ""), status=row["status"],
                exercise=row["exercise"],
                issued_at=row["issued_at"], trigger_s=trigger_s, event_kind=row["kind"],
                n=len(self.alerts), headline=(row["headline"] or "").replace(f"{tag}.", ""),
            )  # fmt: skip
            self.alerts[alert.id] = alert
            seen.append(alert)
        return seen

    async def _new_deliveries(self, conn: asyncpg.Connection, at_s: float) -> None:
        rows = await conn.fetch(
            """SELECT alert_id, subscriber_id, status,
                      coalesce(delivered_at, created_at) AS at
               FROM deliveries
               WHERE alert_id = ANY($1::uuid[]) AND subscriber_id = ANY($2::uuid[])
                 AND channel = 'inbox'""",
            list(self.alerts),
            [r.id for r in self.residents],
        )
        for row in rows:  # a delivery's time is when it was first seen in its latest status
            key = (row["alert_id"], row["subscriber_id"])
            if key not in self.deliveries or self.deliveries[key][2] != row["status"]:
                self.deliveries[key] = (self._scenario_s(row["at"], at_s), row["at"], row["status"])

    async def _shelters(self, conn: asyncpg.Connection) -> list:
        found = [await shelter_store.shelter_by_id(conn, s.id) for s in self.seeded.shelters]
        return [s for s in found if s is not None]

    async def _closures(self, conn: asyncpg.Connection) -> list:
        tag = self.localiser.tag
        ids = await conn.fetch(
            """SELECT id FROM road_closures
               WHERE id LIKE $1 OR id = ANY($2::text[]) ORDER BY id""",
            f"sensor:{tag}.%",
            [f"incident:{i}{suffix}" for i in self.localiser.opened_incidents()
             for suffix in ("", ":area")],
        )  # fmt: skip
        found = [await incident_store.road_closure_by_id(conn, row["id"]) for row in ids]
        return [c for c in found if c is not None]

    def _route(self, alert: AlertSeen) -> None:
        n = alert.n
        targeted = sorted(
            (self._by_id[sub] for (aid, sub) in self.deliveries if aid == alert.id),
            key=lambda r: r.index,
        )
        if alert.hazard not in HAZARDS:
            return  # "other" (a collapse, say): no shelter is designated for it
        for r in targeted:
            answer = self._router.route(r.location, r.profile, alert.hazard)  # type: ignore[arg-type]
            self.routes.append({
                "alert": n, "at_s": alert.at_s, "resident": r.index, "group": r.group,
                "profile": r.profile, "hazard": alert.hazard,
                "shelter": None if answer.shelter_id is None else self._plain(answer.shelter_id),
                "distance_m": None if answer.distance_m is None else round(answer.distance_m, 1),
                "minutes": None if answer.minutes is None else round(answer.minutes, 2),
                "reason": answer.reason,
            })  # fmt: skip
