"""What the soak reads back from Postgres and the sink, and the checks it makes of it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import asyncpg
import numpy as np

from disaster import topics

__all__ = [
    "STREAMS",
    "Deliveries",
    "Wave",
    "alert_origins",
    "check_deliveries",
    "percentiles_ms",
    "stored_counts",
    "stored_latencies_ms",
    "unsettled",
    "wave_figures",
]

#: Stream name, raw topic, DLQ topic, and the table (and count) a valid record ends in.
STREAMS = (
    ("river", topics.RIVER_RAW, topics.RIVER_DLQ, "SELECT count(*) FROM river_readings"),
    ("sensor", topics.SENSOR_RAW, topics.SENSOR_DLQ, "SELECT count(*) FROM sensor_readings"),
    ("weather", topics.WEATHER_RAW, topics.WEATHER_DLQ, "SELECT count(*) FROM weather_reports"),
    ("incident", topics.INCIDENT_RAW, topics.INCIDENT_DLQ, "SELECT count(*) FROM incident_reports"),
)

_LATENCY_SQL = {
    "river": "SELECT extract(epoch FROM received_at - observed_at) FROM river_readings",
    "sensor": "SELECT extract(epoch FROM received_at - observed_at) FROM sensor_readings",
    "weather": "SELECT extract(epoch FROM received_at - reported_at) FROM weather_reports",
    "incident": """SELECT extract(epoch FROM received_at - (body->>'reported_at')::timestamptz)
                   FROM incident_reports""",
}


async def stored_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows per stream, rejected inputs per raw topic, alerts, and push rows by status."""
    counts = {name: int(await conn.fetchval(sql)) for name, _, _, sql in STREAMS}
    for row in await conn.fetch("SELECT topic, count(*) AS n FROM rejected_inputs GROUP BY 1"):
        counts[f"rejected:{row['topic']}"] = int(row["n"])
    counts["alerts_issued"] = int(
        await conn.fetchval("SELECT count(*) FROM alerts WHERE status IN ('issued', 'superseded')")
    )
    counts["alerts_draft"] = int(
        await conn.fetchval("SELECT count(*) FROM alerts WHERE status = 'draft'")
    )
    for row in await conn.fetch(
        "SELECT status, count(*) AS n FROM deliveries WHERE channel LIKE 'push:%' GROUP BY 1"
    ):
        counts[f"push:{row['status']}"] = int(row["n"])
    counts["subscribers"] = int(await conn.fetchval("SELECT count(*) FROM subscribers"))
    counts["answers"] = int(await conn.fetchval("SELECT count(*) FROM answers"))
    return counts


async def unsettled(conn: asyncpg.Connection) -> tuple[int, int, int]:
    """What is still on its way to residents: river stage events (氾濫注意 and up, each an
    alert) with no delivery row yet, push rows pending, and push rows delivered (for the sink's
    count to be compared with)."""
    events = await conn.fetchval(
        """SELECT count(*) FROM hazard_events h
           WHERE h.kind = 'river.stage' AND (h.body->>'stage')::int >= 2
             AND NOT EXISTS (SELECT 1 FROM alerts a JOIN deliveries d ON d.alert_id = a.id
                             WHERE a.hazard_event_id = h.id)"""
    )
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
                  count(*) FILTER (WHERE status = 'delivered') AS delivered
           FROM deliveries WHERE channel LIKE 'push:%'"""
    )
    return int(events), int(row["pending"]), int(row["delivered"])


@dataclass(frozen=True)
class Wave:
    """One river wave's fan-outs: its river alerts (by the reading that raised them)."""

    alerts: int
    push_rows: int
    residents: int


async def wave_figures(
    conn: asyncpg.Connection, started_unix: float, wave_s: float
) -> tuple[dict[int, Wave], int]:
    """River alerts, their delivered push rows and the residents they reached, per wave (0
    first, by the causing reading's time); and how many residents every wave reached."""
    rows = await conn.fetch(
        """WITH w AS (
             SELECT a.id, floor((extract(epoch FROM h.observed_at) - $1) / $2)::int AS wave
             FROM alerts a JOIN hazard_events h ON h.id = a.hazard_event_id
             WHERE h.kind = 'river.stage' AND a.status IN ('issued', 'superseded'))
           SELECT w.wave, w.id AS alert_id, d.subscriber_id FROM w
           JOIN deliveries d ON d.alert_id = w.id
           WHERE d.channel LIKE 'push:%' AND d.status = 'delivered'""",
        started_unix, wave_s,
    )  # fmt: skip
    alerts: dict[int, set[str]] = {}
    residents: dict[int, set[str]] = {}
    pushes: Counter[int] = Counter()
    for r in rows:
        alerts.setdefault(r["wave"], set()).add(str(r["alert_id"]))
        residents.setdefault(r["wave"], set()).add(str(r["subscriber_id"]))
        pushes[r["wave"]] += 1
    every = set.intersection(*residents.values()) if residents else set()
    waves = {k: Wave(len(alerts[k]), pushes[k], len(residents[k])) for k in sorted(alerts)}
    return waves, len(every)


async def stored_latencies_ms(conn: asyncpg.Connection) -> dict[str, np.ndarray]:
    """Produce (or report) time to stored row, per stream, in ms."""
    return {
        name: np.array([float(r[0]) * 1e3 for r in await conn.fetch(sql)])
        for name, sql in _LATENCY_SQL.items()
    }


def percentiles_ms(values: np.ndarray) -> str:
    """``p50 / p99 ms`` of the values, or a dash when there are none."""
    if not len(values):
        return "-"
    return f"{np.percentile(values, 50):,.0f} / {np.percentile(values, 99):,.0f} ms"


async def alert_origins(conn: asyncpg.Connection) -> dict[str, tuple[str, float, int]]:
    """Issued alerts: id -> (kind of origin, unix time of the reading or report that caused
    it, level). River alerts start at the reading's time, incident alerts at the report's."""
    rows = await conn.fetch(
        """SELECT a.id, a.level, h.kind, extract(epoch FROM h.observed_at) AS at
           FROM alerts a JOIN hazard_events h ON h.id = a.hazard_event_id
           WHERE a.status IN ('issued', 'superseded')"""
    )
    return {str(r["id"]): (r["kind"], float(r["at"]), int(r["level"])) for r in rows}


@dataclass(frozen=True)
class Deliveries:
    """The push rows the outbox says were delivered, against what the sink received."""

    expected: int
    received: int
    missing: int
    unexpected: int
    duplicates: int
    latencies_s: dict[str, np.ndarray]
    by_alert: Counter[str]


async def check_deliveries(
    conn: asyncpg.Connection,
    arrivals: dict[str, list[list[float]]],
    origins: dict[str, tuple[str, float, int]],
) -> Deliveries:
    """Compare every delivered push row (alert, resident n from its endpoint) with the sink's
    arrivals; latency per origin kind is arrival minus the causing reading's time."""
    rows = await conn.fetch(
        """SELECT d.alert_id, p.endpoint FROM deliveries d
           JOIN push_channels p ON 'push:' || p.id::text = d.channel
           WHERE d.status = 'delivered'"""
    )
    expected = {(str(r["alert_id"]), int(r["endpoint"].rsplit("/", 1)[1])) for r in rows}
    received: Counter[tuple[str, int]] = Counter()
    latencies: dict[str, list[float]] = {}
    for alert_id, hits in arrivals.items():
        kind, at, _ = origins.get(alert_id, ("unknown", float("nan"), 0))
        for n, when in hits:
            received[alert_id, int(n)] += 1
            latencies.setdefault(kind, []).append(when - at)
    by_alert = Counter(alert for alert, _ in expected)
    return Deliveries(
        expected=len(expected),
        received=sum(received.values()),
        missing=len(expected - received.keys()),
        unexpected=len(received.keys() - expected),
        duplicates=sum(c - 1 for c in received.values()),
        latencies_s={k: np.array(v) for k, v in latencies.items()},
        by_alert=by_alert,
    )
