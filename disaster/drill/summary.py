"""The drill report's numbers, from what a run observed. Pure.

``decisions`` holds only what the system decided, on the scenario's clock and with the run's
ids taken out (residents by index, shelters by the scenario's id), so two runs of a scenario
under ``--virtual`` give equal ``decisions``. ``measured`` holds wall-clock latencies, which
vary from run to run and machine to machine.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from typing import Any

from disaster.drill.observe import AlertSeen, Observer
from disaster.drill.run import DrillRun

__all__ = ["percentile", "summarise"]


def percentile(values: list[float], q: float) -> float | None:
    """Return the ``q`` (0..1) percentile by nearest rank, or None for no values."""
    if not values:
        return None
    ranked = sorted(values)
    return ranked[min(len(ranked) - 1, max(0, math.ceil(q * len(ranked)) - 1))]


def _spread(values: list[float]) -> dict[str, float | int | None]:
    return {"count": len(values), "min": min(values, default=None),
            "median": statistics.median(values) if values else None,
            "p90": percentile(values, 0.9), "max": max(values, default=None)}  # fmt: skip


def _alert(obs: Observer, alert: AlertSeen, labels: dict[str, float]) -> dict[str, Any]:
    got = [v for (aid, _), v in obs.deliveries.items() if aid == alert.id]
    times = [at_s - alert.trigger_s for at_s, _, status in got if status == "delivered"]
    trigger = max((k for k, v in labels.items() if v <= alert.trigger_s),
                  key=lambda k: labels[k], default=None)  # fmt: skip
    return {
        "n": alert.n, "level": alert.level, "hazard": alert.hazard, "area": alert.area_name,
        "status": alert.status, "exercise": alert.exercise, "event": alert.event_kind,
        "trigger_s": alert.trigger_s, "issued_s": alert.at_s, "last_label": trigger,
        "trigger_to_issued_s": alert.at_s - alert.trigger_s,
        "trigger_to_delivered_s": {f"p{int(q * 100)}": percentile(times, q)
                                   for q in (0.5, 0.9, 0.99)},
        "targeted": len(got), "reached": len(times),
    }  # fmt: skip


def _residents(obs: Observer) -> dict[str, Any]:
    per_level: dict[int, dict[str, set]] = defaultdict(
        lambda: {"targeted": set(), "reached": set()}
    )
    level_of = {a.id: a.level for a in obs.alerts.values()}
    for (aid, sub), (_, _, status) in obs.deliveries.items():
        per_level[level_of[aid]]["targeted"].add(sub)
        if status == "delivered":
            per_level[level_of[aid]]["reached"].add(sub)
    opted_out = {r.id for r in obs.residents if not r.drills}
    targeted = {sub for (_, sub) in obs.deliveries}
    reached = {sub for (_, sub), (_, _, status) in obs.deliveries.items() if status == "delivered"}
    groups: dict[str, dict[str, int]] = {}
    for r in obs.residents:
        g = groups.setdefault(r.group, {"count": 0, "opted_in": 0, "reached": 0})
        g["count"] += 1
        g["opted_in"] += r.drills
        g["reached"] += r.id in reached
    return {
        "total": len(obs.residents), "opted_in": sum(r.drills for r in obs.residents),
        "vulnerable": sum(r.vulnerable for r in obs.residents), "groups": groups,
        "per_level": {str(lv): {k: len(v) for k, v in d.items()}
                      for lv, d in sorted(per_level.items())},
        "not_opted_in_reached": len(targeted & opted_out),  # any delivery at all counts
    }  # fmt: skip


def _routes(obs: Observer) -> dict[str, Any]:
    by_profile: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"d": [], "t": []})
    last: dict[int, tuple[Any, Any]] = {}
    reroutes = 0
    for route in obs.routes:
        if route["distance_m"] is not None:
            by_profile[route["profile"]]["d"].append(route["distance_m"])
            by_profile[route["profile"]]["t"].append(route["minutes"])
        now = (route["shelter"], route["distance_m"])
        if route["resident"] in last and last[route["resident"]] != now:
            reroutes += 1
        last[route["resident"]] = now
    groups: dict[str, dict[str, int]] = defaultdict(lambda: {"routed": 0, "cut_off": 0})
    for resident, (shelter, _) in last.items():
        group = obs.residents[resident].group
        groups[group]["routed" if shelter is not None else "cut_off"] += 1
    return {
        "per_profile": {p: {"distance_m": _spread(v["d"]), "minutes": _spread(v["t"])}
                        for p, v in sorted(by_profile.items())},
        "groups": dict(sorted(groups.items())), "reroutes": reroutes,
        "unreachable_reasons": dict(Counter(r["reason"] for r in obs.routes if r["reason"])),
        "all": obs.routes,
    }  # fmt: skip


def _shelters(obs: Observer) -> dict[str, Any]:
    capacity = {s.id.removeprefix(f"{obs.localiser.tag}."): s.capacity
                for s in obs.seeded.shelters}  # fmt: skip
    overflows = [
        {"at_s": snap["at_s"], "shelter": sid, "occupancy": n, "capacity": capacity[sid]}
        for snap in obs.timeline for sid, n in snap["occupancy"].items()
        if capacity.get(sid) is not None and n > capacity[sid]
    ]  # fmt: skip
    load = Counter(r["shelter"] for r in obs.routes if r["shelter"])
    timeline = [{"at_s": s["at_s"], "occupancy": s["occupancy"]} for s in obs.timeline]
    return {"capacity": capacity, "overflows": overflows,
            "routed_load": dict(sorted(load.items())), "timeline": timeline}  # fmt: skip


def summarise(run: DrillRun, outcomes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return the JSON summary of a run (``outcomes`` from :func:`check_outcomes`)."""
    obs = run.observer
    labels = run.scenario.labels()
    alerts = sorted(obs.alerts.values(), key=lambda a: a.n)
    decisions = {
        "scenario": run.scenario.header.name,
        "alerts": [_alert(obs, a, labels) for a in alerts],
        "residents": _residents(obs),
        "routes": _routes(obs),
        "shelters": _shelters(obs),
        "closures": {"timeline": [{"at_s": s["at_s"], "active": s["closures_active"]}
                                  for s in obs.timeline],
                     "max_active": max((s["closures_active"] for s in obs.timeline), default=0)},
        "vulnerable_unanswered": [{"at_s": s["at_s"], "count": s["vulnerable_unanswered"]}
                                  for s in obs.timeline],
        "dlq": run.dlq,
    }  # fmt: skip
    measured = {
        "mode": "virtual" if run.options.virtual else f"{run.options.speed:g}x",
        "wall_s": round(run.wall_s, 3),
        "issued_after_trigger_wall_s": [
            round((a.issued_at - obs.epoch).total_seconds() - a.trigger_s, 3) for a in alerts
        ] if not run.options.virtual else None,
        "delivery_wall_s": _delivery_wall(obs, alerts),
    }  # fmt: skip
    checked = outcomes or []
    return {"run_id": str(run.run_id), "decisions": decisions, "measured": measured,
            "outcomes": checked, "passed": all(o["passed"] for o in checked)}  # fmt: skip


def _delivery_wall(obs: Observer, alerts: list[AlertSeen]) -> list[dict[str, Any]]:
    """Seconds of real time from each alert's issue to 50/90/99% of its inbox deliveries."""
    out = []
    for a in alerts:
        lat = [(at - a.issued_at).total_seconds() for (aid, _), (_, at, _) in obs.deliveries.items()
               if aid == a.id]  # fmt: skip
        out.append({"n": a.n, **{f"p{int(q * 100)}": percentile(lat, q) for q in (0.5, 0.9, 0.99)}})
    return out
