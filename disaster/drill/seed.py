"""A drill run's starting state: its gauges, shelters and residents, and the city's graph.

Everything seeded is the run's own (ids from :class:`Localiser` or derived from the run id),
so runs never share state; residents' positions and needs are derived from the scenario alone,
so every run of a scenario starts from the same town.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from disaster import resident_store, shelter_store, store
from disaster.domain import GeoPoint, Station, SubscriberIn
from disaster.domain.resident import Need, profile_for
from disaster.domain.shelter import Shelter
from disaster.drill.localise import Localiser
from disaster.drill.scenario import CitySpec, ResidentGroup, Scenario
from evac.generate import generate_town
from evac.graph import RoadGraph
from evac.osm import graph_from_osm

__all__ = ["DrillResident", "Seeded", "city_graph", "drill_residents", "seed_run"]


@dataclass(frozen=True)
class DrillResident:
    """A seeded resident: ``index`` and ``group`` name them the same in every run."""

    id: uuid.UUID
    index: int
    group: str
    location: GeoPoint
    needs: tuple[Need, ...]
    drills: bool

    @property
    def vulnerable(self) -> bool:
        """Return whether HQ should check on them first (any declared need)."""
        return bool(self.needs)

    @property
    def profile(self) -> str:
        """Return the routing profile their needs call for."""
        return profile_for(list(self.needs))


@dataclass(frozen=True)
class Seeded:
    """What a run stored before its first input."""

    residents: list[DrillResident]
    shelters: list[Shelter]
    stations: list[Station]


def _needs(group: ResidentGroup, i: int) -> tuple[Need, ...]:
    if group.wheelchair_every and i % group.wheelchair_every == 0:
        return ("wheelchair",)
    if group.slow_every and i % group.slow_every == 1 % group.slow_every:
        return ("slow_walker",)
    return ()


def drill_residents(scenario: Scenario, localiser: Localiser) -> list[DrillResident]:
    """Return the scenario's residents with the run's ids (positions seeded by scenario)."""
    found: list[DrillResident] = []
    for group in scenario.header.residents:
        rng = random.Random(f"{scenario.header.name}:{group.name}")
        lon0, lat0, lon1, lat1 = group.box
        for i in range(group.count):
            where = GeoPoint(lat=rng.uniform(lat0, lat1), lon=rng.uniform(lon0, lon1))
            no_drills = bool(group.no_drills_every) and i % group.no_drills_every == (
                group.no_drills_every - 1
            )
            found.append(
                DrillResident(
                    id=uuid.uuid5(localiser.run_id, f"resident:{group.name}:{i}"),
                    index=len(found), group=group.name, location=where,
                    needs=_needs(group, i), drills=not no_drills,
                )
            )  # fmt: skip
    return found


def _stations(scenario: Scenario, localiser: Localiser) -> list[Station]:
    return [
        Station(
            id=localiser.own(s.id),
            name=f"{s.name}（訓練）",
            thresholds=s.thresholds,
            gauge_min_m=0.0,
            gauge_max_m=s.gauge_max_m,
            area_name=s.area_name,
            area=s.area,
            location=GeoPoint(lat=s.lat, lon=s.lon),
        )
        for s in scenario.header.stations
    ]


def _shelters(scenario: Scenario, localiser: Localiser) -> list[Shelter]:
    return [
        s.model_copy(update={"id": localiser.own(s.id), "source": f"drill {localiser.tag}"})
        for s in scenario.header.shelters
    ]


async def seed_run(conn: asyncpg.Connection, scenario: Scenario, localiser: Localiser) -> Seeded:
    """Store the run's gauges, shelters and residents (residents opted into drills or not)."""
    seeded = Seeded(
        drill_residents(scenario, localiser), _shelters(scenario, localiser),
        _stations(scenario, localiser),
    )  # fmt: skip
    async with conn.transaction():
        for station in seeded.stations:
            await store.upsert_station(conn, station)
            await store.reset_station(conn, station.id)
        await shelter_store.upsert_shelters(conn, seeded.shelters)
        for r in seeded.residents:
            sub = SubscriberIn(location=r.location, needs=list(r.needs), drills=r.drills)
            await resident_store.register(conn, sub, sub_id=r.id)
    return seeded


def city_graph(city: CitySpec, scenario_file: Path | None) -> RoadGraph:
    """Return the road graph the scenario plays on (built, never written over the city's)."""
    if city.kind == "generated":
        town = (
            generate_town(city.seed)
            if city.size is None
            else generate_town(city.seed, size=city.size)
        )
        return town.graph
    assert city.path is not None
    return graph_from_osm(_resolve(Path(city.path), scenario_file))


def _resolve(path: Path, scenario_file: Path | None) -> Path:
    """An OSM path is relative to the repository (the scenario file's parent's parent)."""
    if path.is_absolute():
        return path
    bases = [Path.cwd()]
    if scenario_file is not None:
        bases = [scenario_file.resolve().parent.parent, scenario_file.resolve().parent, *bases]
    for base in bases:
        if (base / path).exists():
            return base / path
    msg = f"OSM extract {path} not found (looked under {', '.join(map(str, bases))})"
    raise FileNotFoundError(msg)
