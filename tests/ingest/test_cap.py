"""Parsing CAP alerts and the feeds carrying them: every library sample, chosen fields, fuzzing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disaster.domain import AlertLevel, GeoPoint, InvalidInputError
from disaster.domain.weather import Circle, Geocode, WeatherReport
from ingest.cap import parse_cap
from tests.support import byte_mutations

LIBRARY = Path(__file__).resolve().parents[3] / "shared" / "data" / "cap" / "google_cap-library"
CAP_NAMESPACES = ("urn:oasis:names:tc:emergency:cap:1.1", "urn:oasis:names:tc:emergency:cap:1.2")
CAP12 = CAP_NAMESPACES[1]
SCHEMA_ROOT = "root is '{http://www.w3.org/2001/XMLSchema}schema'"

#: Every file in the library: "parses", or "rejected: <a substring of the reason>".
EXPECTED = {
    "43b080713727.cap": "parses",
    "KAR0-0306112239-SW.cap": "parses",
    "amber.atom": "parses",
    "amber.rss": "rejected: RSS feed has no embedded CAP alerts: 1 of 1 items link elsewhere",
    "australia.cap": "parses",
    "bushfire_invalid.edxlde": (
        "rejected: EDXL-DE contentObject 2: missing required element identifier"
    ),
    "bushfire_valid.edxlde": "parses",
    "canada.cap": "parses",
    "canada_errors.cap": "rejected: references is empty",
    "canada_signed.atom": "parses",
    "canada_signed.cap": "parses",
    "cap11.xsd": f"rejected: {SCHEMA_ROOT}",
    "cap12.xsd": f"rejected: {SCHEMA_ROOT}",
    "earthquake-iso8859-1.cap": "parses",
    "earthquake.atom": "parses",
    "earthquake.cap": "parses",
    "earthquake_index.atom": (
        "rejected: feed has no embedded CAP alerts: 1 of 1 entries link elsewhere"
    ),
    "earthquake_signed.cap": "parses",
    "empty_weather_index.atom": "rejected: feed has no entries",
    "invalid.cap": "rejected: missing required element scope",
    "invalid.rss": "rejected: RSS channel has no title",
    "invalid_element.atom": "rejected: feed has an element 'foo' that Atom does not define",
    "no_entries.atom": "rejected: feed has no entries",
    "no_id.atom": "rejected: feed has no id; Atom requires exactly one",
    "no_link.atom": "rejected: entry 1 has neither content nor a link",
    "no_optional_fields.cap": "parses",
    "no_title.atom": "rejected: entry 1 has no title; Atom requires exactly one",
    "noaa_errors.cap": "rejected: references is empty",
    "ny_index.rss": "rejected: RSS feed has no embedded CAP alerts: 2 of 2 items link elsewhere",
    "thunderstorm.cap": "parses",
    "wcatwc-warning.cap": "parses",
    "weather.atom": "parses",
    "weather.cap": "parses",
    "weather_index.atom": (
        "rejected: feed has no embedded CAP alerts: 2 of 2 entries link elsewhere"
    ),
    "weather_invalid.atom": "rejected: entry 1: identifier 'INVALID,' contains a space, comma",
    "xee.atom": "rejected: unsafe XML refused: DTDForbidden",
    "xee.cap": "rejected: unsafe XML refused: DTDForbidden",
}
NAMES = sorted(p.name for p in LIBRARY.iterdir()) if LIBRARY.is_dir() else []
INFO_TYPES = {"Alert": "issue", "Update": "update", "Cancel": "cancel"}


def sample(name: str) -> bytes:
    return (LIBRARY / name).read_bytes()


def only(name: str) -> WeatherReport:
    [report] = parse_cap(sample(name))
    return report


def refusal(raw: bytes) -> str:
    with pytest.raises(InvalidInputError) as caught:
        parse_cap(raw)
    return caught.value.reason


def embedded_alerts(raw: bytes) -> list[ET.Element]:
    """The CAP alerts a trusted sample holds, found independently of the parser under test."""
    root = ET.fromstring(raw)
    return [el for ns in CAP_NAMESPACES for el in root.iter(f"{{{ns}}}alert")]


def test_the_library_is_where_the_tests_expect_it_and_every_file_has_an_expectation() -> None:
    assert LIBRARY.is_dir(), LIBRARY
    assert set(NAMES) == set(EXPECTED)


# --- every file in the library -----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_library_file_parses_or_is_refused_as_expected(name: str) -> None:
    outcome = EXPECTED[name]
    if outcome != "parses":
        assert outcome.removeprefix("rejected: ") in refusal(sample(name))
        return
    reports = parse_cap(sample(name))
    alerts = embedded_alerts(sample(name))
    assert len(reports) == len(alerts) >= 1
    for report, alert in zip(reports, alerts, strict=True):
        ns = "{" + alert.tag[1:].partition("}")[0] + "}"
        field = {child.tag.removeprefix(ns): (child.text or "").strip() for child in alert}
        assert report.source == "cap"
        assert report.id == f"cap:{field['sender']}:{field['identifier']}"
        assert report.series.startswith("cap:")
        assert report.reported_at == datetime.fromisoformat(field["sent"])
        assert report.reported_at.utcoffset() is not None
        assert report.info_type == INFO_TYPES[field["msgType"]]
        assert report.mode == "actual"
        assert len(report.items) == len(alert.findall(f"{ns}info"))
        assert all(item.kind_name and item.status == field["msgType"] for item in report.items)
        assert report.title
        assert report.alert_level is None, "foreign agencies state no 警戒レベル"


# --- chosen fields of real samples -------------------------------------------------------------


def test_a_polygon_is_turned_from_cap_lat_lon_into_geojson_lon_lat_unrounded() -> None:
    area = only("canada.cap").items[0].areas[0]
    [polygon] = area.polygons
    ring = polygon.coordinates[0]
    # The file says "42.3481,-82.9314 42.3363,-82.6937 ...": latitude first.
    assert ring[0] == (-82.9314, 42.3481)
    assert ring[1] == (-82.6937, 42.3363)
    assert ring[-1] == ring[0]
    assert len(ring) == 17
    assert polygon.to_shape().contains(polygon.to_shape().centroid)


def test_a_circle_keeps_its_centre_latitude_first_and_radius_in_km() -> None:
    first, second = only("australia.cap").items
    area = first.areas[0]
    assert area.description == "Yerong Creek Structure Fire"
    assert area.circles == [Circle(center=GeoPoint(lat=-35.3888, lon=147.0598), radius_km=25.0)]
    assert area.geocodes == [
        Geocode(name="http://www.iso.org/iso/country_codes.html", value="AU-NSW")
    ]
    assert second.areas[0].geocodes[0].value == "2642"
    assert first.kind_code == "fire"


def test_geocodes_are_kept_in_order() -> None:
    area = only("canada.cap").items[0].areas[0]
    assert area.geocodes[0] == Geocode(name="layer:EC-MSC-SMC:1.0:CLC", value="041420")
    assert [g.value for g in area.geocodes[1:]] == [
        "3537001", "3537003", "3537013", "3537016", "3537028", "3537034", "3537039", "3537048",
        "3537064",
    ]  # fmt: skip
    assert only("KAR0-0306112239-SW.cap").items[0].areas[0].geocodes == [
        Geocode(name="SAME", value="006037")
    ]


def test_an_update_refers_to_earlier_messages_and_joins_the_first_ones_series() -> None:
    report = only("canada.cap")
    assert report.info_type == "update"
    assert report.references == [
        "cap:cap@ec.gc.ca:2.49.0.1.124.a3f342a4.2012",
        "cap:cap@ec.gc.ca:2.49.0.1.124.60f31a3a.2012",
    ]
    assert report.series == report.references[0]
    assert report.id == "cap:cap@ec.gc.ca:2.49.0.1.124.6bddbc91.2012"


def test_a_reference_keeps_the_sender_it_names() -> None:
    report = only("wcatwc-warning.cap")
    assert report.references == ["cap:PAAQ:PAAQ-1-lqw6d6"]
    assert report.series == "cap:PAAQ:PAAQ-1-lqw6d6"
    assert report.id == "cap:http://newwcatwc.arh.noaa.gov/tsuPortal/:PAAQ-2-lqw6d6"


def test_a_bilingual_alert_keeps_both_languages_as_items() -> None:
    report = only("canada.cap")
    assert [item.kind_name for item in report.items] == ["thunderstorm", "orages"]
    assert report.items[1].areas[0].description == "Windsor - Leamington - comté d'Essex"
    assert (report.title, report.headline) == ("thunderstorm", "severe thunderstorm watch")
    assert [item.kind_code for item in report.items] == ["thunderstorm", "thunderstorm"]


def test_a_latin_1_alert_is_read_in_its_own_encoding() -> None:
    report = only("earthquake-iso8859-1.cap")
    assert report.headline == "EQ 4.6 Usulután, Usulután, El Salvador - PRELIMINARY REPORT"
    assert report.items[0].areas[0].circles[0].center == GeoPoint(lat=12.747, lon=-88.783)


def test_a_signed_alert_parses_and_its_signature_is_ignored() -> None:
    report = only("earthquake_signed.cap")
    assert report.title == "Earthquake"
    assert report.items[0].areas[0].circles == [
        Circle(center=GeoPoint(lat=38.82, lon=-122.812), radius_km=0.0)
    ]
    assert only("canada_signed.atom") == only("canada_signed.cap")


def test_an_alert_without_info_gets_a_title_from_its_header() -> None:
    report = only("no_optional_fields.cap")
    assert report.items == []
    assert report.title == "Alert from http://earthquake.usgs.gov/research/monitoring/anss/neic/"
    assert report.headline == ""


def test_an_edxl_de_envelope_is_unwrapped_into_each_alert_it_carries() -> None:
    reports = parse_cap(sample("bushfire_valid.edxlde"))
    assert len(reports) == 7
    assert reports[0].id == "cap:webmaster@rfs.nsw.gov.au:tag:www.rfs.nsw.gov.au2011-10-18:40500"
    assert reports[1].title == "Grassfire"


def test_an_atom_entry_with_an_inline_alert_is_parsed_and_its_link_ignored() -> None:
    report = only("earthquake.atom")
    assert report.id == "cap:trinet@caltech.edu:TRI13970876.1"
    assert report.items[0].areas[0].circles[0].center == GeoPoint(lat=32.9525, lon=-115.5527)


# --- synthetic alerts: Japanese levels, series, and each rejection -----------------------------


def info(
    *,
    language: str = "ja-JP",
    event: str = "洪水警報",
    headline: str = "○○川に洪水警報",
    parameters: tuple[tuple[str, str], ...] = (),
    area: str = "<polygon>35.1,139.1 35.1,139.2 35.2,139.2 35.1,139.1</polygon>",
    extra: str = "",
) -> str:
    params = "".join(
        f"<parameter><valueName>{n}</valueName><value>{v}</value></parameter>"
        for n, v in parameters
    )
    return (
        f"<info><language>{language}</language><category>Met</category><event>{event}</event>"
        "<urgency>Immediate</urgency><severity>Severe</severity><certainty>Likely</certainty>"
        f"{extra}<headline>{headline}</headline>{params}"
        f"<area><areaDesc>○○市</areaDesc>{area}</area></info>"
    )


def alert(
    *,
    ns: str = CAP12,
    identifier: str = "JP-0001",
    sender: str = "bousai@city.example.lg.jp",
    sent: str = "2026-06-03T05:50:00+09:00",
    status: str = "Actual",
    msg_type: str = "Alert",
    scope: str = "Public",
    references: str | None = None,
    infos: tuple[str, ...] = (),
    encoding: str = "UTF-8",
) -> bytes:
    refs = "" if references is None else f"<references>{references}</references>"
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?><alert xmlns="{ns}">'
        f"<identifier>{identifier}</identifier><sender>{sender}</sender><sent>{sent}</sent>"
        f"<status>{status}</status><msgType>{msg_type}</msgType><scope>{scope}</scope>"
        f"{refs}{''.join(infos)}</alert>"
    )
    return text.encode(encoding)


def test_a_japanese_alert_prefers_the_japanese_info_and_reads_its_level() -> None:
    english = info(language="en-US", event="Flood Warning", headline="Flood warning for X River")
    japanese = info(parameters=(("警戒レベル", "4"),))
    [report] = parse_cap(alert(infos=(english, japanese)))
    assert [item.kind_name for item in report.items] == ["Flood Warning", "洪水警報"]
    assert (report.title, report.headline) == ("洪水警報", "○○川に洪水警報")
    assert [item.alert_level for item in report.items] == [None, AlertLevel.EVACUATE]
    assert report.alert_level is AlertLevel.EVACUATE
    assert report.mode == "actual"
    assert report.info_type == "issue"


@pytest.mark.parametrize(
    ("language", "name", "value", "level"),
    [
        ("ja-JP", "警戒レベル", "5", AlertLevel.EMERGENCY),
        ("ja-JP", "警戒レベル", "レベル３", AlertLevel.ELDERLY_EVACUATE),
        ("en-US", "JP_ALERT_LEVEL", "Level 2", AlertLevel.ADVISORY),
        ("ja", "AlertLevel", "警戒レベル4", AlertLevel.EVACUATE),
        ("en-US", "AlertLevel", "4", None),  # the generic name counts only in a Japanese info
        ("ja-JP", "警戒レベル", "6", None),
        ("ja-JP", "警戒レベル", "", None),
        ("ja-JP", "FireDangerClass", "1", None),
    ],
)  # fmt: skip
def test_only_an_explicit_japanese_level_is_read(
    language: str, name: str, value: str, level: AlertLevel | None
) -> None:
    [report] = parse_cap(alert(infos=(info(language=language, parameters=((name, value),)),)))
    assert report.items[0].alert_level == level


def test_updates_and_cancels_join_the_series_of_the_alert_they_follow() -> None:
    [original] = parse_cap(sample("thunderstorm.cap"))
    first = "KSTO@NWS.NOAA.GOV,KSTO1055887203,2003-06-17T14:57:00-07:00"
    [update] = parse_cap(
        alert(identifier="KSTO1055887300", sender="KSTO@NWS.NOAA.GOV", msg_type="Update",
              sent="2003-06-17T15:30:00-07:00", references=first)
    )  # fmt: skip
    later = "KSTO@NWS.NOAA.GOV,KSTO1055887300,2003-06-17T15:30:00-07:00"
    [cancel] = parse_cap(
        alert(identifier="KSTO1055887400", sender="KSTO@NWS.NOAA.GOV", msg_type="Cancel",
              sent="2003-06-17T16:00:00-07:00", references=f"{later} {first}")
    )  # fmt: skip
    assert update.references == [original.id]
    assert update.series == original.series == original.id
    assert cancel.series == original.series, "the earliest-sent reference, though listed second"
    assert cancel.references == [update.id, original.id]
    assert (update.info_type, cancel.info_type) == ("update", "cancel")


@pytest.mark.parametrize(
    ("status", "mode"),
    [("Actual", "actual"), ("Exercise", "exercise"), ("Test", "test"), ("System", "test"),
     ("Draft", "test")],
)  # fmt: skip
def test_status_sets_the_mode(status: str, mode: str) -> None:
    [report] = parse_cap(alert(status=status))
    assert report.mode == mode


def test_coordinates_keep_every_decimal_written() -> None:
    ring = "35.123456789012,139.987654321098 35.2,139.9 35.2,140.1 35.123456789012,139.987654321098"
    [report] = parse_cap(alert(infos=(info(area=f"<polygon>{ring}</polygon>"),)))
    assert report.items[0].areas[0].polygons[0].coordinates[0][0] == (
        139.987654321098,
        35.123456789012,
    )


@pytest.mark.parametrize(
    ("ns", "sent", "expected"),
    [
        (CAP12, "2026-06-03T05:50:00+09:00", datetime.fromisoformat("2026-06-03T05:50:00+09:00")),
        (CAP12, "2026-06-02T20:50:00-00:00", datetime.fromisoformat("2026-06-02T20:50:00+00:00")),
        (CAP_NAMESPACES[0], "2026-06-02T20:50:00Z",
         datetime.fromisoformat("2026-06-02T20:50:00+00:00")),
        (CAP_NAMESPACES[0], "2026-06-02T20:50:00.250+09:00",
         datetime.fromisoformat("2026-06-02T20:50:00.250+09:00")),
    ],
)  # fmt: skip
def test_times_follow_the_spec_and_cap_1_1_may_use_xs_datetime(
    ns: str, sent: str, expected: datetime
) -> None:
    [report] = parse_cap(alert(ns=ns, sent=sent))
    assert report.reported_at == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (alert(sent="2026-06-02T20:50:00Z"), "sent '2026-06-02T20:50:00Z' is not CAP 1.2 time"),
        (alert(sent="2026-06-02T20:50:00.5+09:00"), "is not CAP 1.2 time"),
        (alert(sent="2026-06-02T20:50:00"), "is not CAP 1.2 time"),
        (alert(ns=CAP_NAMESPACES[0], sent="2026-06-02T20:50:00"), "is not CAP 1.1 time"),
        (alert(sent="2026-02-30T20:50:00+09:00"), "is not a real date and time"),
        (alert(sent="yesterday"), "sent 'yesterday'"),
        (alert(identifier=""), "identifier is empty"),
        (alert(sender="a b"), "sender 'a b' contains a space"),
        (alert(msg_type="Ack"), "msgType Ack is not ingested"),
        (alert(msg_type="Error"), "msgType Error is not ingested"),
        (alert(msg_type="Notice"), "msgType 'Notice' is not one of Alert, Update, Cancel"),
        (alert(status="Real"), "status 'Real' is not one of"),
        (alert(scope="Everyone"), "scope 'Everyone' is not one of"),
        (alert(msg_type="Update", references=""), "references is empty"),
        (alert(references="a,b"), "reference 'a,b' is not sender,identifier,sent"),
        (alert(references="a,b,2026-06-02T20:50:00Z"), "reference sent"),
        (alert(infos=(info().replace("Immediate", "Foobar"),)),
         "info 1: urgency 'Foobar' is not one of"),
        (alert(infos=(info().replace("<category>Met</category>", ""),)),
         "info 1: missing required element category"),
        (alert(infos=(info(event=""),)), "info 1: event is empty"),
        (alert(infos=(info(extra="<expires>tomorrow</expires>"),)), "info 1: expires 'tomorrow'"),
        (alert(infos=(info(extra="<responseType>Panic</responseType>"),)), "responseType"),
        (alert(infos=(info(area="<polygon>35.1,139.1 35.1,139.2 35.1,139.1</polygon>"),)),
         "info 1: area 1: polygon 1: has 3 points; CAP needs at least 4"),
        (alert(infos=(info(area="<polygon>1,1 1,2 2,2 2,1</polygon>"),)),
         "polygon 1: is not closed"),
        (alert(infos=(info(area="<polygon></polygon>"),)), "has 0 points"),
        (alert(infos=(info(area="<polygon>1,1 1,2, 2,2 1,1</polygon>"),)),
         "'1,2,' is not a 'lat,lon' pair"),
        (alert(infos=(info(area="<polygon>0,0 1,1 0,1 1,0 0,0</polygon>"),)),
         "polygon 1: coordinates: Value error, polygon is not valid: Self-intersection"),
        (alert(infos=(info(area="<polygon>95,0 95,1 96,1 95,0</polygon>"),)),
         "lat: Input should be less than or equal to 90"),
        (alert(infos=(info(area="<circle>35.1,139.1</circle>"),)),
         "circle: '35.1,139.1' is not 'lat,lon radius_km'"),
        (alert(infos=(info(area="<circle>35.1,139.1 -1</circle>"),)),
         "circle: radius_km: Input should be greater than or equal to 0"),
        (alert(infos=(info(area="<geocode><valueName>JIS</valueName></geocode>"),)),
         "area 1: missing required element value"),
        (alert(identifier="x" * 600), "id: String should have at most 600 characters"),
        (alert(ns="urn:oasis:names:tc:emergency:cap:1.0"), "not a CAP 1.1/1.2 alert"),
    ],
)  # fmt: skip
def test_invalid_alerts_are_refused_naming_the_fault(raw: bytes, reason: str) -> None:
    assert reason in refusal(raw)


def test_a_shift_jis_alert_is_transcoded_and_parsed() -> None:
    raw = alert(encoding="Shift_JIS", infos=(info(parameters=(("警戒レベル", "３"),)),))
    [report] = parse_cap(raw)
    assert (report.title, report.items[0].areas[0].description) == ("洪水警報", "○○市")
    assert report.alert_level is AlertLevel.ELDERLY_EVACUATE


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'<?xml version="1.0" encoding="klingon"?><alert/>',
         "XML encoding 'klingon' is not supported"),
        (b'<?xml version="1.0" encoding="unicode_escape"?><alert/>', "is not supported"),
        (b'<?xml version="1.0" encoding="Shift_JIS"?><a>\x81</a>', "not valid shift_jis"),
        (b'<?xml version="1.0" encoding="EUC-JP"?><a>\xff</a>', "not valid euc_jp"),
        (b'<?xml version="1.0" encoding="EUC-JP"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
         "unsafe XML refused"),
    ],
)  # fmt: skip
def test_unusable_encodings_are_refused_and_transcoding_stays_hardened(
    raw: bytes, reason: str
) -> None:
    assert reason in refusal(raw)


def feed(entry_body: str) -> bytes:
    return (
        '<feed xmlns="http://www.w3.org/2005/Atom"><id>f</id><title>t</title>'
        f"<updated>2026-06-03T05:50:00+09:00</updated><entry><id>e</id><title>t</title>"
        f"<updated>2026-06-03T05:50:00+09:00</updated>{entry_body}</entry></feed>"
    ).encode()


def test_a_feed_with_a_bad_embedded_alert_is_refused_naming_the_entry() -> None:
    bad = alert(scope="Nobody").decode().partition("?>")[2]
    assert refusal(feed(f'<content type="text/xml">{bad}</content>')).startswith(
        "entry 1: scope 'Nobody'"
    )


def test_an_rss_item_may_embed_an_alert() -> None:
    embedded = alert().decode().partition("?>")[2]
    raw = (
        "<rss version='2.0'><channel><title>t</title><link>l</link><description>d</description>"
        f"<item><title>t</title>{embedded}</item></channel></rss>"
    ).encode()
    [report] = parse_cap(raw)
    assert report.id == "cap:bousai@city.example.lg.jp:JP-0001"


# --- fuzzing -----------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SEEDS = [
    "canada.cap", "australia.cap", "earthquake-iso8859-1.cap", "earthquake.atom",
    "bushfire_valid.edxlde", "wcatwc-warning.cap", "thunderstorm.cap", "amber.rss",
]  # fmt: skip
ODD_ENCODINGS = ["Shift_JIS", "EUC-JP", "utf-16", "idna", "punycode", "base64", "unicode_escape",
                 "utf-7", "cp932", "iso-2022-jp", "undefined", "x"]  # fmt: skip
TRICKY_TEXT = [
    "", "Ack", "Error", "Update", "Z", "1,2 3,4", "90.0000001,0", "-0,-180 0,180 1,0 -0,-180",
    "nan,nan 1,1 2,2 nan,nan", "1e400,1 1,1 1,2 1e400,1", "2026-06-03T05:50:00Z",
    "9999-12-31T23:59:59-23:59", "a,b,c d,e,f", "警戒レベル", "レベル５", "ja", "0,0 0", "x" * 700,
]  # fmt: skip


def parse_or_refuse(raw: bytes) -> None:
    """The contract: reports, or InvalidInputError with a reason; nothing else escapes."""
    try:
        reports = parse_cap(raw)
    except InvalidInputError as exc:
        reason = exc.reason
    else:
        assert reports
        assert all(isinstance(report, WeatherReport) for report in reports)
        return
    assert reason


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise_anything_else(raw: bytes) -> None:
    parse_or_refuse(raw)


@FUZZ
@given(st.sampled_from(ODD_ENCODINGS), st.binary(max_size=256))
def test_arbitrary_bytes_in_odd_declared_encodings_never_raise_anything_else(
    encoding: str, body: bytes
) -> None:
    parse_or_refuse(f'<?xml version="1.0" encoding="{encoding}"?><a>'.encode() + body)


@FUZZ
@given(byte_mutations([sample(name) for name in SEEDS]))
def test_mutated_samples_never_raise_anything_else(raw: bytes) -> None:
    parse_or_refuse(raw)


@st.composite
def element_mutations(draw: st.DrawFn) -> bytes:
    """Rewrite or drop elements of a well-formed sample, reaching past the XML parser."""
    root = ET.fromstring(sample(draw(st.sampled_from(SEEDS))))
    parents = {child: parent for parent in root.iter() for child in parent}
    for _ in range(draw(st.integers(1, 3))):
        elements = list(root.iter())
        element = elements[draw(st.integers(0, len(elements) - 1))]
        action = draw(st.sampled_from(["text", "tricky", "clear", "drop"]))
        if action == "text":
            element.text = draw(st.text(max_size=30))
        elif action == "tricky":
            element.text = draw(st.sampled_from(TRICKY_TEXT))
        elif action == "clear" or element not in parents:
            element.clear()
        else:
            parents[element].remove(element)
    return ET.tostring(root, encoding="utf-8")


@FUZZ
@given(element_mutations())
def test_rewritten_elements_never_raise_anything_else(raw: bytes) -> None:
    parse_or_refuse(raw)
