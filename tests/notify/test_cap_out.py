"""CAP 1.2 output: valid against the OASIS schema and read back the same by our own CAP reader."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from disaster.domain import AlertLevel
from ingest.cap import parse_cap
from notify.cap_out import (
    ALERT_LEVEL_PARAMETER,
    CAP_NS,
    LEVEL_CAP,
    MUNICIPALITY_GEOCODE,
    CapAlert,
    alert_to_cap,
    cap_time,
)
from notify.messages import (
    JST,
    AlertFacts,
    NoRouteFacts,
    compose_alert,
    compose_pattern_c,
    load_catalogue,
)

LIBRARY = Path(__file__).resolve().parents[3] / "shared" / "data" / "cap" / "google_cap-library"
SCHEMA = etree.XMLSchema(etree.parse(str(LIBRARY / "cap12.xsd")))
CATALOGUE = load_catalogue()
SENT = datetime(2026, 11, 22, 13, 10, 5, 654321, tzinfo=JST)
SENDER = "bousai.city.example.jp"
RING = [(139.10001, 35.10001), (139.2, 35.1), (139.2, 35.2), (139.123456789012, 35.19)]
CAP = {"cap": CAP_NS}


def _messages(level: int = 4, hazard: str = "flood", *, exercise: bool = False) -> list:
    facts = AlertFacts(level, hazard, "○○川流域", None, SENT, exercise=exercise)
    return [compose_alert(facts, language, CATALOGUE) for language in CATALOGUE.languages]


def _cap(**changes: object) -> CapAlert:
    fields: dict[str, object] = {
        "identifier": "alert-1",
        "sender": SENDER,
        "sent": SENT,
        "level": 4,
        "hazard": "flood",
        "area_desc": "○○市 ○○川流域",
        "messages": _messages(),
        "polygons": [RING],
        "circles": [(139.15, 35.15, 1500.0)],
        "geocodes": [(MUNICIPALITY_GEOCODE, "172022")],
        "expires": SENT + timedelta(hours=6),
        "web": "https://bousai.city.example.jp/alerts/alert-1",
        "sender_name": "○○市災害対策本部",
    }
    return CapAlert(**(fields | changes))  # type: ignore[arg-type]


def _valid(document: bytes) -> etree._Element:
    root = etree.fromstring(document)
    SCHEMA.assertValid(root)
    return root


def _chain() -> tuple[CapAlert, CapAlert, CapAlert]:
    first = _cap()
    later = SENT + timedelta(minutes=30)
    update = _cap(identifier="alert-2", sent=later, msg_type="Update", messages=_messages(5),
                  level=5, references=[(SENDER, "alert-1", SENT)])  # fmt: skip
    cancel = _cap(
        identifier="alert-3", sent=later + timedelta(hours=2), msg_type="Cancel", messages=[],
        references=[(SENDER, "alert-1", SENT), (SENDER, "alert-2", later)], level=5,
    )  # fmt: skip
    return first, update, cancel


@pytest.mark.parametrize("level", sorted(LEVEL_CAP))
@pytest.mark.parametrize("hazard", ["flood", "landslide", "earthquake", "tsunami", "fire",
                                    "storm_surge", "other"])  # fmt: skip
def test_every_level_and_hazard_is_schema_valid(level: int, hazard: str) -> None:
    root = _valid(alert_to_cap(_cap(level=level, hazard=hazard, messages=_messages(level, hazard))))
    expected = LEVEL_CAP[level]
    for info in root.findall("cap:info", CAP):
        assert info.findtext("cap:urgency", namespaces=CAP) == expected.urgency
        assert info.findtext("cap:severity", namespaces=CAP) == expected.severity
        assert info.findtext("cap:certainty", namespaces=CAP) == expected.certainty
        responses = [e.text for e in info.findall("cap:responseType", CAP)]
        assert responses == list(expected.response_types)


def test_the_level_mapping_is_as_documented() -> None:
    table = {level: (m.urgency, m.severity, m.certainty) for level, m in LEVEL_CAP.items()}
    assert table == {
        5: ("Immediate", "Extreme", "Observed"),
        4: ("Immediate", "Severe", "Likely"),
        3: ("Expected", "Moderate", "Likely"),
        2: ("Future", "Minor", "Possible"),
        1: ("Future", "Minor", "Possible"),
    }


def test_the_schema_check_is_real() -> None:
    broken = alert_to_cap(_cap()).replace(b"<status>Actual</status>", b"<status>Real</status>")
    assert not SCHEMA.validate(etree.fromstring(broken))


def test_one_info_per_language_with_its_texts() -> None:
    root = _valid(alert_to_cap(_cap()))
    infos = root.findall("cap:info", CAP)
    assert [i.findtext("cap:language", namespaces=CAP) for i in infos] == [
        "ja-JP", "en-US", "ja-JP-x-easy"
    ]  # fmt: skip
    japanese = infos[0]
    assert japanese.findtext("cap:headline", namespaces=CAP).startswith("【警戒レベル4】避難指示")
    assert japanese.findtext("cap:event", namespaces=CAP) == "避難指示（洪水）"
    assert japanese.findtext("cap:category", namespaces=CAP) == "Met"
    assert "全員" in japanese.findtext("cap:instruction", namespaces=CAP)
    assert japanese.findtext("cap:expires", namespaces=CAP) == "2026-11-22T19:10:05+09:00"
    parameter = japanese.find("cap:parameter", CAP)
    assert parameter.findtext("cap:valueName", namespaces=CAP) == ALERT_LEVEL_PARAMETER
    assert parameter.findtext("cap:value", namespaces=CAP) == "4"
    area = japanese.find("cap:area", CAP)
    assert area.findtext("cap:polygon", namespaces=CAP).split()[0] == "35.10001,139.10001"
    assert area.findtext("cap:circle", namespaces=CAP) == "35.15,139.15 1.5"


def test_an_alert_for_some_profiles_says_whom_in_each_language() -> None:
    root = _valid(alert_to_cap(_cap(level=3, messages=_messages(3),
                                    profiles=["slow_walk", "wheelchair"])))  # fmt: skip
    infos = root.findall("cap:info", CAP)
    said = {i.findtext("cap:language", namespaces=CAP): i.findtext("cap:audience", namespaces=CAP)
            for i in infos}  # fmt: skip
    assert said["en-US"] == (
        "Only residents of these evacuation profiles: slow_walk (needing time to evacuate: "
        "elderly, with infants, low vision), wheelchair (wheelchair users)"
    )
    assert said["ja-JP"].startswith("次の避難区分の方が対象です: slow_walk (避難に時間のかかる方")
    assert said["ja-JP-x-easy"] == said["ja-JP"]
    names = [etree.QName(child).localname for child in infos[0]]
    assert names.index("certainty") + 1 == names.index("audience")
    assert _valid(alert_to_cap(_cap())).find("cap:info/cap:audience", CAP) is None


def test_header_is_in_schema_order_and_sent_has_no_fractions() -> None:
    root = _valid(alert_to_cap(_cap()))
    names = [etree.QName(child).localname for child in root]
    assert names[:6] == ["identifier", "sender", "sent", "status", "msgType", "scope"]
    assert root.findtext("cap:sent", namespaces=CAP) == "2026-11-22T13:10:05+09:00"
    assert root.findtext("cap:scope", namespaces=CAP) == "Public"


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, 999, tzinfo=UTC), "2026-01-02T03:04:05+00:00"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=JST), "2026-01-02T03:04:05+09:00"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5, seconds=30))),
         "2026-01-02T08:03:35+00:00"),
    ],
)  # fmt: skip
def test_cap_times(moment: datetime, text: str) -> None:
    assert cap_time(moment) == text


def test_round_trip_through_our_cap_reader() -> None:
    alert = _cap()
    [report] = parse_cap(alert_to_cap(alert))
    assert report.id == f"cap:{SENDER}:alert-1"
    assert report.info_type == "issue"
    assert report.mode == "actual"
    assert report.reported_at == SENT.replace(microsecond=0)
    assert report.references == []
    assert report.alert_level == AlertLevel.EVACUATE
    assert len(report.items) == 3
    for item in report.items:
        assert item.kind_code == "flood"
        [area] = item.areas
        assert area.description == alert.area_desc
        assert area.polygons[0].coordinates == [[*RING, RING[0]]]  # closed, not rounded
        [circle] = area.circles
        assert (circle.center.lon, circle.center.lat, circle.radius_km) == (139.15, 35.15, 1.5)
        assert [(g.name, g.value) for g in area.geocodes] == [(MUNICIPALITY_GEOCODE, "172022")]


def test_update_and_cancel_reference_the_earlier_versions() -> None:
    documents = [alert_to_cap(alert) for alert in _chain()]
    for document in documents:
        _valid(document)
    first, update, cancel = (parse_cap(document)[0] for document in documents)
    assert (first.info_type, update.info_type, cancel.info_type) == ("issue", "update", "cancel")
    assert update.references == [first.id]
    assert cancel.references == [first.id, update.id]
    assert first.series == update.series == cancel.series == first.id
    assert update.alert_level == AlertLevel.EMERGENCY
    assert cancel.items == []
    references = etree.fromstring(documents[2]).findtext("cap:references", namespaces=CAP)
    assert references == (
        f"{SENDER},alert-1,2026-11-22T13:10:05+09:00 {SENDER},alert-2,2026-11-22T13:40:05+09:00"
    )


def test_a_cancel_with_texts_says_all_clear() -> None:
    _, _, cancel = _chain()
    root = _valid(alert_to_cap(replace(cancel, messages=_messages(5))))
    info = root.find("cap:info", CAP)
    assert info.findtext("cap:responseType", namespaces=CAP) == "AllClear"
    assert info.findtext("cap:urgency", namespaces=CAP) == "Past"


def test_drills_are_exercise_documents() -> None:
    drill = _cap(status="Exercise", messages=_messages(exercise=True))
    root = _valid(alert_to_cap(drill))
    assert root.findtext("cap:status", namespaces=CAP) == "Exercise"
    assert (
        root.find("cap:info", CAP).findtext("cap:headline", namespaces=CAP).startswith("【訓練】")
    )
    assert parse_cap(alert_to_cap(drill))[0].mode == "exercise"


def test_coordinates_keep_full_precision_and_never_use_exponents() -> None:
    ring = [(0.00001, -0.00001), (0.00002, -0.00001), (0.00002, 0.00001), (0.00001, -0.00001)]
    document = alert_to_cap(_cap(polygons=[ring], circles=[(1e-5, 2e-5, 0.5)]))
    _valid(document)
    assert b"e-05" not in document
    assert b"<circle>0.00002,0.00001 0.0005</circle>" in document
    [report] = parse_cap(document)
    assert report.items[0].areas[0].polygons[0].coordinates == [ring]


def test_area_may_be_geocodes_only() -> None:
    document = alert_to_cap(_cap(polygons=[], circles=[], geocodes=[("JIS X0402", "131016")]))
    _valid(document)
    assert parse_cap(document)[0].items[0].areas[0].geocodes[0].value == "131016"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"identifier": "alert 1"}, "identifier"),
        ({"sender": "a,b"}, "sender"),
        ({"references": [(SENDER, "x", SENT)]}, "an Alert references none"),
        ({"msg_type": "Update"}, "must reference"),
        ({"messages": []}, "at least one message"),
        ({"status": "Exercise"}, "Exercise"),
        ({"messages": _messages(exercise=True)}, "Exercise"),
        ({"level": 6}, "level"),
        ({"hazard": "meteor"}, "hazard"),
        ({"area_desc": " "}, "area_desc"),
        ({"profiles": ["car"]}, "unknown profiles"),
    ],
)
def test_impossible_alerts_are_refused(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        _cap(**changes)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"polygons": [[(139.0, 35.0), (139.1, 35.0)]]}, "at least 3 distinct corners"),
        ({"polygons": [[(139.0, 95.0), (139.1, 35.0), (139.1, 35.1)]]}, "not a"),
        ({"circles": [(139.0, 35.0, float("inf"))]}, "radius"),
        ({"sent": datetime(2026, 1, 1)}, "timezone"),  # noqa: DTZ001 - the naive time is the point
        ({"messages": _messages(3)}, "plain level-4"),
    ],
)
def test_unwritable_details_are_refused(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        alert_to_cap(_cap(**changes))


def test_personal_messages_never_go_into_cap() -> None:
    facts = AlertFacts(4, "flood", "○○川流域", None, SENT)
    personal = compose_pattern_c(facts, NoRouteFacts("too_late", "自宅", 2), "ja", CATALOGUE)
    with pytest.raises(ValueError, match="'C'"):
        alert_to_cap(_cap(messages=[personal]))
