"""Write the shipped drill scenarios (deterministic: run it again and nothing changes).

    .venv/bin/python scenarios/make_scenarios.py

Weather inputs are real JMA sample telegrams from ../shared/data/jma_xml with their times moved
to the scenario's clock; everything else is what gauges, sensors and incident reports publish.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from disaster.domain import PolygonArea
from disaster.drill.scenario import Scenario, dump_scenario, parse_scenario
from evac.city import town_shelters
from evac.generate import _to_lonlat, generate_town

HERE = Path(__file__).resolve().parent
JMA = HERE.parent.parent / "shared" / "data" / "jma_xml"
_NS = uuid.UUID("6d1f0c2a-8b3e-4f57-9a61-2c4e8d0b7f13")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
_REPORTED = re.compile(r"<ReportDateTime>([^<]+)</ReportDateTime>")


def _at(start: datetime, offset_s: float) -> str:
    return (start + timedelta(seconds=offset_s)).isoformat()


def jma(name: str, start: datetime, offset_s: float) -> str:
    """A real JMA sample with every time moved so its ReportDateTime is ``offset_s`` in."""
    text = (JMA / name).read_text(encoding="utf-8")
    reported = datetime.fromisoformat(_REPORTED.search(text).group(1))  # type: ignore[union-attr]
    shift = start + timedelta(seconds=offset_s) - reported
    return _ISO.sub(
        lambda m: (datetime.fromisoformat(m.group(0).replace("Z", "+00:00")) + shift).isoformat(),
        text,
    )


def reading(station: str, level: float, start: datetime, t: float) -> dict[str, Any]:
    return {"station_id": station, "level_m": round(level, 2), "observed_at": _at(start, t)}


def sensor(
    sid: str, kind: str, value: float, start: datetime, t: float, lat: float, lon: float
) -> dict[str, Any]:
    return {
        "sensor_id": sid,
        "kind": kind,
        "value": round(value, 2),
        "observed_at": _at(start, t),
        "location": {"lat": lat, "lon": lon},
    }


def report(
    name: str, kind: str, severity: str, start: datetime, t: float, **place: Any
) -> dict[str, Any]:
    return {
        "action": "report",
        "report_id": str(uuid.uuid5(_NS, name)),
        "kind": kind,
        "severity": severity,
        "reporter": {"role": "staff", "id": "消防"},
        "reported_at": _at(start, t),
        **place,
    }


def ev(
    t: float, topic: str, payload: Any, key: str | None = None, label: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"offset_s": t, "topic": topic, "payload": payload}
    if key is not None:
        out["key"] = key
    if label is not None:
        out["label"] = label
    return out


def box_area(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    ring = [(lon0, lat0), (lon1, lat0), (lon1, lat1), (lon0, lat1), (lon0, lat0)]
    return PolygonArea(coordinates=[ring]).model_dump(mode="json")


def _town_shelters(seed: int) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json") for s in town_shelters(generate_town(seed), seed=seed)]


def typhoon() -> list[dict[str, Any]]:
    """令和元年東日本台風 (Hagibis) style: a river rising through every threshold overnight."""
    start = datetime.fromisoformat("2019-10-12T15:00:00+09:00")
    town = generate_town(0)
    lon0, lat0, lon1, lat1 = town.river.bounds
    area = (lon0, lat0 - 0.0015, lon1, lat1 + 0.0015)
    bridge = int(town.bridges[0])
    g = town.graph
    a, b = int(g.edge_source()[bridge]), int(g.indices[bridge])
    line = [{"lat": float(g.node_lat[n]), "lon": float(g.node_lon[n])} for n in (a, b)]
    mid_lat, mid_lon = (lat0 + lat1) / 2, (lon0 + lon1) / 2
    levels = [
        1.1,
        1.3,
        1.6,
        1.9,
        2.1,
        2.4,
        2.7,
        2.95,
        3.1,
        3.3,
        3.5,
        3.65,
        3.8,
        3.95,
        4.1,
        4.25,
        4.4,
        4.55,
        4.6,
        4.55,
        4.4,
        4.1,
        3.7,
        3.2,
    ]
    events = [
        ev(
            0,
            "weather.raw",
            jma("15_12_02_161130_VPWW53.xml", start, 0),
            "jma-tokyo",
            "jma-warning",
        )
    ]
    for i, level in enumerate(levels):
        t = 600.0 * i
        label = {3.1: "caution-level", 3.65: "evacuation-level", 4.25: "danger-level"}.get(level)
        events.append(ev(t, "river.raw", reading("gauge-1", level, start, t), "gauge-1", label))
        rain = [8, 15, 22, 31, 38, 45, 52, 58, 49, 41, 35, 30][min(i, 11)]
        events.append(
            ev(
                t,
                "sensor.raw",
                sensor("rain-1", "rain_rate", rain, start, t, mid_lat + 0.004, mid_lon),
                "rain-1",
            )
        )
        if 8 <= i <= 22:
            depth = [
                0.04,
                0.08,
                0.12,
                0.18,
                0.26,
                0.34,
                0.41,
                0.45,
                0.44,
                0.4,
                0.33,
                0.22,
                0.12,
                0.06,
                0.02,
            ][i - 8]
            events.append(
                ev(
                    t + 60,
                    "sensor.raw",
                    sensor(
                        "underpass-1", "water_depth", depth, start, t + 60, mid_lat - 0.001, mid_lon
                    ),
                    "underpass-1",
                    "underpass-flooded" if depth == 0.34 else None,
                )
            )
        if i in (12, 15, 18, 21):
            occ = {12: 40, 15: 180, 18: 320, 21: 380}[i]
            events.append(
                ev(
                    t + 120,
                    "shelter.status",
                    {"shelter_id": "town0-000", "occupancy": occ, "open": True},
                )
            )
    events.append(
        ev(
            10_500,
            "incident.raw",
            report(
                "typhoon-bridge",
                "blocked_road",
                "high",
                start,
                10_500,
                line=line,
                description="橋梁冠水のため通行止め",
            ),
            "bridge-1",
            "bridge-closed",
        )
    )
    events.append(ev(11_000, "resident.answer", {"resident": 0, "status": "evacuating"}))
    events.append(ev(11_600, "resident.answer", {"resident": 7, "status": "safe"}))
    events.sort(key=lambda e: e["offset_s"])
    shelters = _town_shelters(0)
    return [
        {
            "name": "typhoon-river-flood",
            "title": "台風による河川氾濫（生成した町）",
            "description": "A typhoon night: JMA warnings, the gauge rising through all four "
            "thresholds over four hours, the underpass flooding (road closed by its sensor), a "
            "bridge closed, the hill-top shelter filling; then the water recedes.",
            "city": {"kind": "generated", "seed": 0},
            "start": start.isoformat(),
            "stations": [
                {
                    "id": "gauge-1",
                    "name": "しおさい川 中央橋",
                    "gauge_max_m": 12.0,
                    "thresholds": {
                        "standby_m": 2.0,
                        "caution_m": 3.0,
                        "evacuation_m": 3.6,
                        "danger_m": 4.2,
                    },
                    "area_name": "しおさい川沿い",
                    "area": box_area(*area),
                    "lat": mid_lat,
                    "lon": mid_lon,
                }
            ],
            "shelters": shelters,
            "residents": [
                {
                    "name": "riverside",
                    "count": 30,
                    "box": list(area),
                    "wheelchair_every": 7,
                    "slow_every": 5,
                    "no_drills_every": 10,
                }
            ],
            "expect": [
                {
                    "kind": "alert",
                    "level_at_least": 3,
                    "hazard": "flood",
                    "trigger": "evacuation-level",
                    "within_min": 10,
                    "note": "高齢者等避難 within 10 min of 避難判断水位",
                },
                {
                    "kind": "alert",
                    "level_at_least": 4,
                    "hazard": "flood",
                    "trigger": "danger-level",
                    "within_min": 10,
                    "note": "避難指示 within 10 min of 氾濫危険水位",
                },
                {
                    "kind": "alert",
                    "status": "draft",
                    "level_at_least": 3,
                    "hazard": "flood",
                    "trigger": "underpass-flooded",
                    "within_min": 10,
                    "note": "the flooded underpass drafts a level-3 alert for HQ to approve",
                },
                {"kind": "no_alert_above", "level_at_least": 4, "note": "level 5 never automatic"},
                {"kind": "group_reached", "group": "riverside", "share_at_least": 1.0},
                {"kind": "group_routed", "group": "riverside", "share_at_least": 0.9},
                {"kind": "closures_at_least", "count": 2, "note": "underpass and bridge"},
                {"kind": "no_shelter_over_capacity"},
                {"kind": "drills_only"},
                {"kind": "dlq_at_most", "count": 0},
            ],
        },
        *events,
    ]


def earthquake() -> list[dict[str, Any]]:
    """An M7 under Tokyo: intensity 6弱 in Shibuya, fires and a collapse, roads blocked."""
    start = datetime.fromisoformat("2024-01-15T02:10:00+09:00")
    shelters = [
        ("yoyogi", "代々木公園（広域避難場所）", 35.6690, 139.6960, 5000),
        ("jingumae", "神宮前小学校", 35.6680, 139.7060, 600),
        ("shoto", "松濤中学校", 35.6610, 139.6910, 450),
        ("sakuragaoka", "桜丘ホール", 35.6540, 139.7000, 300),
    ]
    shelter_json = [
        {
            "id": sid,
            "name": name,
            "location": {"lat": lat, "lon": lon},
            "capacity": cap,
            "open": True,
            "kind": "both",
            "hazards": ["earthquake", "fire"],
            "source": "scenario",
        }
        for sid, name, lat, lon, cap in shelters
    ]
    events = [
        ev(
            0,
            "weather.raw",
            jma("32-35_01_03_240613_VXSE53.xml", start, 90),
            "jma-quake",
            "quake-report",
        )
    ]
    for i, (lat, lon, value) in enumerate(
        [(35.6590, 139.7010, 5.8), (35.6650, 139.6950, 5.6), (35.6560, 139.6930, 6.1)]
    ):
        events.append(
            ev(
                30,
                "sensor.raw",
                sensor(f"seis-{i}", "seismic_intensity", value, start, 30, lat, lon),
                f"seis-{i}",
                "strong-shaking" if i == 0 else None,
            )
        )
    events += [
        ev(
            300,
            "incident.raw",
            report(
                "fire-1",
                "fire",
                "critical",
                start,
                300,
                location={"lat": 35.6597, "lon": 139.7003},
                description="道玄坂で建物火災",
            ),
            "fire-1",
            "fire",
        ),
        ev(
            420,
            "incident.raw",
            report(
                "collapse-1",
                "collapse",
                "high",
                start,
                420,
                location={"lat": 35.6628, "lon": 139.6975},
                description="木造家屋倒壊",
            ),
            "collapse-1",
        ),
        ev(
            540,
            "incident.raw",
            report(
                "collapse-1b",
                "collapse",
                "high",
                start,
                540,
                location={"lat": 35.6629, "lon": 139.6976},
                description="倒壊、閉じ込めの可能性",
            ),
            "collapse-1",
            "collapse-confirmed",
        ),
        ev(
            600,
            "incident.raw",
            report(
                "block-1",
                "blocked_road",
                "high",
                start,
                600,
                line=[{"lat": 35.6585, "lon": 139.6985}, {"lat": 35.6590, "lon": 139.7000}],
                description="電柱倒壊で道路閉塞",
            ),
            "block-1",
            "road-blocked",
        ),
        ev(
            900,
            "incident.raw",
            report(
                "fire-2",
                "fire",
                "critical",
                start,
                900,
                location={"lat": 35.6560, "lon": 139.6950},
                description="延焼中",
            ),
            "fire-2",
            None,
        ),
        ev(1200, "shelter.status", {"shelter_id": "jingumae", "occupancy": 250, "open": True}),
        ev(1800, "shelter.status", {"shelter_id": "jingumae", "occupancy": 540, "open": True}),
        ev(1800, "shelter.status", {"shelter_id": "shoto", "occupancy": 300, "open": True}),
        ev(2400, "resident.answer", {"resident": 2, "status": "need_help"}),
    ]
    return [
        {
            "name": "earthquake-shibuya",
            "title": "首都直下地震（渋谷 OSM）",
            "description": "Night-time earthquake on the real Shibuya street network: the JMA "
            "intensity report, intensity sensors at 6弱, two fires, a collapse confirmed by a "
            "second report, a road blocked by a fallen pole; shelters filling.",
            "city": {"kind": "osm", "path": "../shared/data/osm/shibuya.osm"},
            "start": start.isoformat(),
            "shelters": shelter_json,
            "residents": [
                {
                    "name": "dogenzaka",
                    "count": 20,
                    "box": [139.6970, 35.6570, 139.7030, 35.6620],
                    "wheelchair_every": 6,
                    "slow_every": 4,
                    "no_drills_every": 8,
                }
            ],
            "expect": [
                {
                    "kind": "alert",
                    "level_at_least": 4,
                    "hazard": "fire",
                    "trigger": "fire",
                    "within_min": 2,
                    "note": "fire warning to residents within 1 km at once",
                },
                {
                    "kind": "alert",
                    "level_at_least": 3,
                    "trigger": "collapse-confirmed",
                    "within_min": 2,
                    "area_contains": "建物倒壊",
                },
                {
                    "kind": "alert",
                    "status": "draft",
                    "level_at_least": 4,
                    "hazard": "earthquake",
                    "trigger": "strong-shaking",
                    "within_min": 2,
                    "note": "intensity 6弱 measured drafts 避難指示 for HQ (never sent by itself)",
                },
                {"kind": "closures_at_least", "count": 1},
                {"kind": "group_routed", "group": "dogenzaka", "share_at_least": 0.8},
                {"kind": "no_shelter_over_capacity"},
                {"kind": "drills_only"},
            ],
        },
        *events,
    ]


def landslide() -> list[dict[str, Any]]:
    """A stalled rain band: rain piling up, 土砂災害警戒情報, a slope moving, a village cut off."""
    start = datetime.fromisoformat("2021-08-14T21:00:00+09:00")
    size = 40
    lonlat = lambda x, y: tuple(float(v) for v in _to_lonlat(x, y))  # noqa: E731
    v0, v1 = lonlat(0.0, size - 4.0), lonlat(3.0, size - 1.0)
    # An L of earth across every road out of the north-west corner's hamlet.
    ring = [
        lonlat(*p)
        for p in [
            (-0.5, size - 5.0),
            (5.0, size - 5.0),
            (5.0, size - 0.5),
            (4.0, size - 0.5),
            (4.0, size - 4.5),
            (-0.5, size - 4.5),
            (-0.5, size - 5.0),
        ]
    ]
    slide = PolygonArea(coordinates=[ring]).model_dump(mode="json")
    corner_lon, corner_lat = lonlat(4.5, size - 4.5)
    events: list[dict[str, Any]] = []
    total = 0.0
    for i in range(19):
        t = 1200.0 * i
        rate = [6, 10, 18, 25, 32, 41, 48, 55, 61, 58, 52, 47, 40, 33, 25, 18, 12, 8, 5][i]
        total += rate * 1200 / 3600
        events.append(
            ev(
                t,
                "sensor.raw",
                [
                    sensor(
                        "rain-hill", "rain_rate", rate, start, t, corner_lat, corner_lon + 0.002
                    ),
                    sensor(
                        "rain-hill",
                        "rain_accumulated",
                        total,
                        start,
                        t,
                        corner_lat,
                        corner_lon + 0.002,
                    ),
                ],
                "rain-hill",
            )
        )
        tilt = [0.1, 0.1, 0.2, 0.2, 0.3, 0.5, 0.8, 1.2, 1.9, 2.6, 3.4][min(i, 10)]
        events.append(
            ev(
                t + 60,
                "sensor.raw",
                sensor("slope-1", "tilt", tilt, start, t + 60, corner_lat, corner_lon),
                "slope-1",
                "slope-moving" if tilt == 3.4 and i == 10 else None,
            )
        )
    events.append(
        ev(
            9000,
            "weather.raw",
            jma("17_01_01_190529_VXWW50.xml", start, 9000),
            "jma-dosha",
            "dosha-keikai",
        )
    )
    events.append(
        ev(
            12_300,
            "incident.raw",
            report(
                "slide-1",
                "landslide",
                "critical",
                start,
                12_300,
                location={"lat": corner_lat, "lon": corner_lon},
                area=slide,
                description="裏山が崩れ、集落への道路が埋没",
            ),
            "slide-1",
            "landslide",
        )
    )
    events.append(ev(13_000, "resident.answer", {"resident": 1, "status": "need_help"}))
    events.sort(key=lambda e: e["offset_s"])
    return [
        {
            "name": "landslide-night",
            "title": "大雨による土砂災害の夜（生成した町）",
            "description": "Six hours of heavy rain on the hill: accumulation past 200 mm, the "
            "土砂災害警戒情報, the slope inclinometer at 3.4°, then a landslide that buries every "
            "road out of the hamlet in the north-west corner: its residents are cut off.",
            "city": {"kind": "generated", "seed": 0},
            "start": start.isoformat(),
            "shelters": _town_shelters(0),
            "residents": [
                {
                    "name": "hamlet",
                    "count": 6,
                    "box": [v0[0], v0[1], v1[0], v1[1]],
                    "wheelchair_every": 3,
                },
                {
                    "name": "hillside",
                    "count": 10,
                    "box": [v1[0] + 0.002, v0[1] - 0.003, v1[0] + 0.006, v1[1]],
                    "slow_every": 4,
                    "no_drills_every": 5,
                },
            ],
            "expect": [
                {
                    "kind": "alert",
                    "level_at_least": 4,
                    "hazard": "landslide",
                    "trigger": "landslide",
                    "within_min": 5,
                    "note": "residents within 1 km told at once",
                },
                {
                    "kind": "alert",
                    "status": "draft",
                    "level_at_least": 4,
                    "hazard": "landslide",
                    "trigger": "slope-moving",
                    "within_min": 5,
                    "note": "the slope sensor drafts 避難指示 for HQ to approve",
                },
                {"kind": "group_reached", "group": "hamlet", "share_at_least": 1.0},
                {
                    "kind": "group_cut_off",
                    "group": "hamlet",
                    "count": 1,
                    "note": "the hamlet has no open road out",
                },
                {"kind": "closures_at_least", "count": 1},
                {"kind": "drills_only"},
                {"kind": "dlq_at_most", "count": 0},
            ],
        },
        *events,
    ]


def main() -> None:
    for name, lines in (
        ("typhoon_river_flood", typhoon()),
        ("earthquake_shibuya", earthquake()),
        ("landslide_night", landslide()),
    ):
        text = [json.dumps(line, ensure_ascii=False) for line in lines]
        scenario: Scenario = parse_scenario(text, name)  # validate before writing
        dump_scenario(scenario, HERE / f"{name}.jsonl")
        print(f"{name}: {len(scenario.events)} events")


if __name__ == "__main__":
    main()
