"""Parsing JMA disaster-prevention XML: every real sample, the level map, and hostile input."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disaster.domain import AlertLevel, InvalidInputError
from disaster.domain.weather import WarningItem, WeatherReport
from ingest._xml import MAX_XML_BYTES
from ingest.jma import JmaLevelMap, load_level_map, parse_jma
from tests.support import byte_mutations

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
JMA_DIR = DATA / "jma_xml"
SAMPLES = sorted(JMA_DIR.glob("*.xml"))
JST = timedelta(hours=9)
#: Kinds that carry a resident level under the guideline: rain, flood, landslide, storm surge.
LEVELLED = re.compile(r"大雨|洪水|土砂|氾濫|高潮")


def sample(name: str) -> bytes:
    return (JMA_DIR / name).read_bytes()


def items_named(report: WeatherReport, kind_name: str) -> list[WarningItem]:
    return [item for item in report.items if item.kind_name == kind_name]


def area_codes(item: WarningItem) -> list[str | None]:
    return [area.code for area in item.areas]


def test_the_sample_directory_is_where_the_tests_expect_it() -> None:
    assert len(SAMPLES) >= 80, JMA_DIR


# --- every sample ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_parses_to_a_report(path: Path) -> None:
    report = parse_jma(path.read_bytes())
    assert report.source == "jma"
    assert report.title
    assert report.reported_at.utcoffset() is not None
    assert report.series.startswith("jma:")
    assert report.series.count("|") == 3
    assert report.id.startswith(report.series + "|")
    assert report.items, "every sample names at least one kind over some areas"
    assert all(item.kind_name and item.status and item.areas for item in report.items)
    assert report.references == []


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_levels_are_absent_exactly_where_nothing_is_in_force(path: Path) -> None:
    for item in parse_jma(path.read_bytes()).items:
        if item.status in {"解除", "なし", "発表警報・注意報はなし", "取消"}:
            assert item.alert_level is None, item


def test_every_rain_flood_landslide_and_surge_kind_in_the_samples_is_mapped() -> None:
    levels = load_level_map()
    names = {item.kind_name for path in SAMPLES for item in parse_jma(path.read_bytes()).items}
    levelled = {name for name in names if LEVELLED.search(name) and "記録的" not in name}
    assert levelled, names
    assert {name for name in levelled if levels.level_for(name) is None} == set()


def test_the_same_bytes_give_the_same_id_and_report() -> None:
    raw = sample("17_02_02_190529_VXWW50.xml")
    assert parse_jma(raw) == parse_jma(bytes(raw))
    assert parse_jma(raw).id == parse_jma(raw).id


def test_ids_are_unique_across_the_samples_except_reissued_examples() -> None:
    by_id: dict[str, list[str]] = {}
    for path in SAMPLES:
        by_id.setdefault(parse_jma(path.read_bytes()).id, []).append(path.name)
    shared = {tuple(names) for names in by_id.values() if len(names) > 1}
    # JMA republished these examples for a later schema revision (241031/241226 → 250630), and
    # three VXKOii examples are one made-up telegram (same DateTime, EventID and Serial).
    assert shared == {
        ("15_16_02_241031_VPWW57.xml", "15_16_02_250630_VPWW57.xml"),
        ("15_16_04_241226_VPWW58.xml", "15_16_04_250630_VPWW58.xml"),
        ("15_16_07_241226_VPWW61.xml", "15_16_07_250630_VPWW61.xml"),
        ("16_02_01_220728_VXKOii.xml", "16_03_01_220728_VXKOii.xml", "16_05_01_210630_VXKOii.xml"),
    }


# --- specific telegrams ------------------------------------------------------------------------


def test_nara_weather_warning_vpww50() -> None:
    report = parse_jma(sample("15_08_01_130412_VPWW50.xml"))
    assert report.title == "奈良県気象警報・注意報"
    assert report.mode == "actual"
    assert report.info_type == "issue"
    assert report.reported_at.isoformat() == "2011-09-03T12:00:00+09:00"
    assert report.headline.startswith("【特別警報（大雨）】北部では４日未明まで")
    assert report.series == "jma:気象警報・注意報|奈良地方気象台|通常|"
    assert report.id == report.series + "|2011-09-03T03:00:00Z|"
    rain = items_named(report, "大雨警報")
    assert rain[0].kind_code == "03"
    assert rain[0].alert_level == AlertLevel.ELDERLY_EVACUATE
    assert rain[0].status == "継続"  # from Body/Warning: the Headline has no Status
    assert [(a.description, a.code) for a in rain[0].areas] == [("奈良県", "290000")]
    municipalities = next(item for item in rain if "2920100" in area_codes(item))
    assert ("奈良市", "2920100") in [(a.description, a.code) for a in municipalities.areas]
    assert items_named(report, "雷注意報")[0].alert_level is None
    assert report.alert_level == AlertLevel.ELDERLY_EVACUATE


def test_emergency_warning_calls_for_level_5() -> None:
    report = parse_jma(sample("15_08_01_130412_VPWW53.xml"))
    special = items_named(report, "大雨特別警報")[0]
    assert (special.kind_code, special.status, special.alert_level) == ("33", "発表", 5)
    assert report.alert_level == AlertLevel.EMERGENCY


def test_lifted_kinds_are_reported_from_the_body_without_a_level() -> None:
    report = parse_jma(sample("15_08_05_130412_VPWW53.xml"))
    assert report.alert_level is None
    lifted = items_named(report, "大雨特別警報")
    assert lifted
    assert {item.status for item in lifted} == {"解除"}
    assert "290000" in area_codes(lifted[0])
    assert not items_named(report, "解除"), "the Headline's bare 解除 is spelled out"


def test_downgrades_keep_the_new_kinds_level() -> None:
    report = parse_jma(sample("15_08_03_160628_VPWW53.xml"))
    downgraded = next(i for i in report.items if i.status == "特別警報から注意報")
    assert (downgraded.kind_name, downgraded.alert_level) == ("大雨注意報", 2)


def test_storm_surge_emergency_warning_is_level_4_per_the_guideline() -> None:
    report = parse_jma(sample("15_10_03_160628_VPWW53.xml"))
    assert items_named(report, "高潮特別警報")[0].alert_level == AlertLevel.EVACUATE
    assert items_named(report, "高潮注意報")[0].alert_level == AlertLevel.ADVISORY


def test_landslide_alert_vxww50_gives_level_4_by_municipality() -> None:
    report = parse_jma(sample("17_02_02_190529_VXWW50.xml"))
    assert report.title == "渡島・檜山地方土砂災害警戒情報"
    assert (
        report.series == "jma:土砂災害警戒情報|函館地方気象台|通常|渡島・檜山地方土砂災害警戒情報"
    )
    assert report.id.endswith("|2013-08-23T08:38:23Z|2")
    by_status = {item.status: item for item in report.items}
    assert set(by_status) == {"発表", "継続"}
    assert all(item.kind_name == "土砂災害警戒情報" for item in report.items)
    assert all(item.alert_level == AlertLevel.EVACUATE for item in report.items)
    assert area_codes(by_status["発表"]) == ["0133300"]
    assert [a.description for a in by_status["継続"].areas] == ["松前町", "福島町"]
    assert area_codes(by_status["継続"]) == ["0133100", "0133200"]


def test_landslide_alert_lifted_everywhere_has_no_level() -> None:
    report = parse_jma(sample("17_02_03_190529_VXWW50.xml"))
    (item,) = report.items
    assert (item.kind_name, item.status, item.alert_level) == ("土砂災害警戒情報", "解除", None)
    assert area_codes(item) == ["0133100", "0133200", "0133300"]


@pytest.mark.parametrize(
    ("name", "kind", "code", "level"),
    [
        ("16_01_01_220728_VXKOii.xml", "氾濫注意情報", "20", AlertLevel.ADVISORY),
        ("16_02_02_220728_VXKOii.xml", "氾濫警戒情報", "30", AlertLevel.ELDERLY_EVACUATE),
        ("16_06_01_220728_VXKOii.xml", "氾濫危険情報", "41", AlertLevel.EVACUATE),
        ("16_04_01_220728_VXKOii.xml", "氾濫発生情報（氾濫水の予報）", "53", AlertLevel.EMERGENCY),
    ],
)
def test_river_flood_forecasts_map_to_their_levels(
    name: str, kind: str, code: str, level: AlertLevel
) -> None:
    report = parse_jma(sample(name))
    assert report.alert_level == level
    assert {(i.kind_name, i.kind_code, i.alert_level) for i in report.items} == {
        (kind, code, level)
    }


def test_real_river_forecast_names_the_river_reach() -> None:
    report = parse_jma(sample("16_02_02_220728_VXKOii.xml"))
    assert report.title == "六角川氾濫警戒情報"
    assert report.series.endswith("|890904000100")
    assert [(a.description, a.code) for a in report.items[0].areas] == [("六角川", "890904000100")]


@pytest.mark.parametrize(
    ("name", "kind", "level"),
    [
        ("15_17_01_241226_VPWW55.xml", "レベル３大雨警報", 3),
        ("15_16_03_241226_VPWW55.xml", "レベル４大雨危険警報", 4),
        ("15_17_01_241226_VPWW56.xml", "レベル４土砂災害危険警報", 4),
        ("15_16_01_241031_VPWW56.xml", "レベル３土砂災害警報", 3),
        ("15_16_08_241226_VPWW57.xml", "レベル４高潮危険警報", 4),
        ("15_16_02_241031_VPWW57.xml", "レベル３高潮警報", 3),
    ],
)
def test_level_named_warnings_get_the_level_their_name_states(
    name: str, kind: str, level: int
) -> None:
    items = items_named(parse_jma(sample(name)), kind)
    assert items
    assert {item.alert_level for item in items if item.status != "解除"} == {level}


def test_level_named_rain_warning_by_municipality() -> None:
    report = parse_jma(sample("15_17_01_241226_VPWW55.xml"))
    warning = next(i for i in items_named(report, "レベル３大雨警報") if "3220100" in area_codes(i))
    assert (warning.kind_code, warning.status) == ("03", "継続")
    lifted = items_named(report, "レベル２大雨注意報")
    assert ("解除", ["320030"]) in [(i.status, area_codes(i)) for i in lifted]


def test_earthquake_intensity_items_have_areas_and_no_level() -> None:
    report = parse_jma(sample("32-39_11_01_120615_VXSE51.xml"))
    assert report.title == "震度速報"
    strongest = items_named(report, "震度６強")[0]
    assert [(a.description, a.code) for a in strongest.areas] == [
        ("宮城県北部", "220"),
        ("宮城県中部", "222"),
    ]
    assert report.alert_level is None
    assert all(item.alert_level is None for item in report.items)


def test_earthquake_without_headline_items_names_the_epicentre() -> None:
    report = parse_jma(sample("32-35_01_02_240613_VXSE52.xml"))
    assert report.mode == "exercise"
    assert report.series == "jma:震源に関する情報|気象庁本庁|訓練|20091001134500"
    (item,) = report.items
    assert item.kind_name == "震源に関する情報"
    assert [(a.description, a.code) for a in item.areas] == [("駿河湾", "485")]
    assert item.alert_level is None


def test_earthquake_early_warning_forecast_areas_come_from_the_body() -> None:
    report = parse_jma(sample("36_01_04_240613_VXSE44.xml"))
    (item,) = report.items
    assert item.kind_name == "緊急地震速報（予報）"
    assert area_codes(item)[:3] == ["622", "632", "752"]
    assert item.alert_level is None


def test_tsunami_warning_areas_and_lifting() -> None:
    report = parse_jma(sample("32-39_11_02_250206_VTSE41.xml"))
    major = items_named(report, "大津波警報")[0]
    assert (major.kind_code, area_codes(major), major.alert_level) == ("52", ["291"], None)
    lifted = parse_jma(sample("32-39_13_07_250206_VTSE41.xml"))
    assert lifted.mode == "exercise"
    (item,) = lifted.items
    assert (item.kind_name, item.status) == ("津波注意報解除", "解除")
    assert "312" in area_codes(item)


# --- Status, InfoType and dates built from real bytes ------------------------------------------


@pytest.mark.parametrize(("status", "mode"), [("訓練", "exercise"), ("試験", "test")])
def test_drill_and_test_telegrams_are_marked_and_kept_apart(status: str, mode: str) -> None:
    raw = sample("15_08_01_130412_VPWW50.xml")
    report = parse_jma(raw.replace(status_tag("通常"), status_tag(status)))
    actual = parse_jma(raw)
    assert report.mode == mode
    assert f"|{status}|" in report.series
    assert report.series != actual.series
    assert report.id != actual.id


def status_tag(status: str) -> bytes:
    return f"<Status>{status}</Status>".encode()


@pytest.mark.parametrize(
    ("info_type", "expected"), [("訂正", "correction"), ("遅延", "issue"), ("取消", "cancel")]
)
def test_info_types(info_type: str, expected: str) -> None:
    raw = sample("17_02_02_190529_VXWW50.xml").replace(
        "<InfoType>発表</InfoType>".encode(), f"<InfoType>{info_type}</InfoType>".encode()
    )
    assert parse_jma(raw).info_type == expected


def test_a_cancellation_voids_every_item_and_level() -> None:
    raw = sample("15_08_01_130412_VPWW53.xml").replace(
        "<InfoType>発表</InfoType>".encode(), "<InfoType>取消</InfoType>".encode()
    )
    report = parse_jma(raw)
    assert report.info_type == "cancel"
    assert report.items
    assert {item.status for item in report.items} == {"取消"}
    assert report.alert_level is None


def test_a_report_time_without_offset_is_japan_time() -> None:
    raw = sample("17_02_02_190529_VXWW50.xml").replace(
        b"<ReportDateTime>2013-08-23T17:38:00+09:00</ReportDateTime>",
        b"<ReportDateTime>2013-08-23T17:38:00</ReportDateTime>",
    )
    reported_at = parse_jma(raw).reported_at
    assert reported_at.utcoffset() == JST
    assert reported_at.isoformat() == "2013-08-23T17:38:00+09:00"


# --- the level map -----------------------------------------------------------------------------


def test_the_packaged_map_follows_the_guideline() -> None:
    levels = load_level_map()
    expected = {
        "大雨特別警報": 5,
        "大雨警報": 3,
        "大雨注意報": 2,
        "洪水警報": 3,
        "洪水注意報": 2,
        "土砂災害警戒情報": 4,
        "氾濫発生情報": 5,
        "氾濫危険情報": 4,
        "氾濫警戒情報": 3,
        "氾濫注意情報": 2,
        "高潮特別警報": 4,
        "高潮警報": 4,
        "レベル５大雨特別警報": 5,
        "レベル４土砂災害危険警報": 4,
        "レベル２高潮注意報": 2,
    }
    assert {name: levels.level_for(name) for name in expected} == expected
    for absent in ("雷注意報", "強風注意報", "暴風特別警報", "震度６強", "大津波警報"):
        assert levels.level_for(absent) is None


def test_level_named_entries_agree_with_their_names() -> None:
    for name, level in load_level_map().levels.items():
        if match := re.match(r"レベル([１-５])", name):
            assert level == "０１２３４５".index(match.group(1)), name


def test_a_custom_map_file_changes_levels_without_code(tmp_path: Path) -> None:
    path = tmp_path / "levels.json"
    path.write_text(json.dumps({"version": 1, "levels": {"大雨警報": 4}}), encoding="utf-8")
    report = parse_jma(sample("15_08_01_130412_VPWW50.xml"), load_level_map(path))
    assert items_named(report, "大雨警報")[0].alert_level == AlertLevel.EVACUATE
    assert items_named(report, "洪水警報")[0].alert_level is None


def test_a_map_built_in_code_works_too() -> None:
    custom = JmaLevelMap({"雷注意報": AlertLevel.EARLY_WARNING})
    report = parse_jma(sample("15_08_01_130412_VPWW50.xml"), custom)
    assert report.alert_level == AlertLevel.EARLY_WARNING
    with pytest.raises(TypeError):
        custom.levels["大雨警報"] = AlertLevel.EMERGENCY  # type: ignore[index]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "not UTF-8 JSON"),
        ("[]", "expected a JSON object"),
        ('{"levels": {}}', "unsupported version None"),
        ('{"version": 2, "levels": {}}', "unsupported version 2"),
        ('{"version": true, "levels": {}}', "unsupported version True"),
        ('{"version": 1, "levels": []}', "'levels' must be an object"),
        ('{"version": 1, "levels": {}, "source": 3}', "'source' a string"),
        ('{"version": 1, "levels": {"大雨警報": 6}}', "not an integer 1–5"),
        ('{"version": 1, "levels": {"大雨警報": 0}}', "not an integer 1–5"),
        ('{"version": 1, "levels": {"大雨警報": "3"}}', "not an integer 1–5"),
        ('{"version": 1, "levels": {"大雨警報": 3.0}}', "not an integer 1–5"),
        ('{"version": 1, "levels": {"大雨警報": true}}', "not an integer 1–5"),
        ('{"version": 1, "levels": {" ": 3}}', "a kind name is empty"),
    ],
)
def test_a_malformed_map_file_is_refused(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "levels.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(reason)) as caught:
        load_level_map(path)
    assert str(path) in str(caught.value)


def test_a_map_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "levels.json"
    path.write_bytes(b'{"version": 1, "levels": {"\x91\xe5\x89\x4a": 3}}')
    with pytest.raises(ValueError, match="not UTF-8 JSON"):
        load_level_map(path)


# --- rejections --------------------------------------------------------------------------------


def _without(raw: bytes, pattern: bytes) -> bytes:
    return re.sub(pattern, b"", raw, count=1, flags=re.DOTALL)


VXWW = sample("17_02_02_190529_VXWW50.xml") if SAMPLES else b""


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not well-formed XML"),
        (b"this is not XML", "not well-formed XML"),
        (b"\x00\xff\xfe garbage", "not well-formed XML"),
        (VXWW[: len(VXWW) // 2], "not well-formed XML"),
        (b"<a>" + b" " * MAX_XML_BYTES + b"</a>", "more than"),
        (b'<?xml version="1.0" encoding="rot13"?><Report/>', "is not supported"),
        # Shift_JIS is transcoded and read, so what is refused is the element, not the encoding.
        (b'<?xml version="1.0" encoding="shift_jis"?><Report/>', "not a JMA Report"),
        (b"<Report/>", "not a JMA Report"),
        (b'<Report xmlns="http://example.com/"/>', "not a JMA Report"),
        (VXWW.replace(b"<Report ", b"<Bulletin ").replace(b"</Report>", b"</Bulletin>"),
         "not a JMA Report"),
        (_without(VXWW, rb"<Control>.*?</Control>"), "no Control"),
        (_without(VXWW, rb"<Head .*?</Head>"), "no Head"),
        (_without(VXWW, rb"<EditorialOffice>.*?</EditorialOffice>"),
         "no Control/EditorialOffice"),
        (_without(VXWW, rb"<ReportDateTime>.*?</ReportDateTime>"), "no Head/ReportDateTime"),
        (VXWW.replace(b"2013-08-23T08:38:23Z", b"yesterday"), "Control/DateTime 'yesterday'"),
        (VXWW.replace("<Status>通常".encode(), "<Status>本番".encode()),
         "unknown Control/Status '本番'"),
        (VXWW.replace("<InfoType>発表".encode(), "<InfoType>更新".encode()),
         "unknown Head/InfoType '更新'"),
        (VXWW.replace(b"<Title>", b"<Title>" + b"x" * 700, 1), "series"),
    ],
)  # fmt: skip
def test_non_jma_input_is_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_jma(raw)
    assert reason in caught.value.reason


def test_a_bad_report_time_is_refused() -> None:
    raw = VXWW.replace(b"<ReportDateTime>2013-08-23T17:38:00+09:00", b"<ReportDateTime>17:38")
    with pytest.raises(InvalidInputError, match="Head/ReportDateTime '17:38'"):
        parse_jma(raw)


@pytest.mark.parametrize(
    "name", ["google_cap-library/weather.cap", "google_cap-library/earthquake.cap"]
)
def test_a_cap_document_is_not_mistaken_for_jma(name: str) -> None:
    with pytest.raises(InvalidInputError, match="not a JMA Report"):
        parse_jma((DATA / "cap" / name).read_bytes())


def test_an_external_entity_attack_is_refused_before_parsing() -> None:
    with pytest.raises(InvalidInputError, match="unsafe XML refused: DTDForbidden"):
        parse_jma((DATA / "cap" / "google_cap-library" / "xee.cap").read_bytes())


def test_an_internal_entity_in_a_jma_sample_is_refused() -> None:
    dtd = b'<!DOCTYPE Report [<!ENTITY boom "boom">]>\n'
    raw = VXWW.replace(b"<Report ", dtd + b"<Report ", 1).replace(b"<Title>", b"<Title>&boom;", 1)
    with pytest.raises(InvalidInputError, match="unsafe XML refused"):
        parse_jma(raw)


# --- fuzzing -----------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SEEDS = [sample(n) for n in ("17_02_02_190529_VXWW50.xml", "77_01_04_240613_VXSE45.xml")]


def parse_or_refuse(raw: bytes) -> None:
    """The contract: a report, or InvalidInputError with a reason; nothing else escapes."""
    try:
        report = parse_jma(raw)
    except InvalidInputError as exc:
        reason = exc.reason
    else:
        assert isinstance(report, WeatherReport)
        return
    assert reason


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise_anything_else(raw: bytes) -> None:
    parse_or_refuse(raw)


@FUZZ
@given(byte_mutations(SEEDS))
def test_mutated_samples_never_raise_anything_else(raw: bytes) -> None:
    parse_or_refuse(raw)


@st.composite
def element_mutations(draw: st.DrawFn) -> bytes:
    """Rewrite or drop elements of a well-formed sample, reaching past the XML parser."""
    root = ET.fromstring(draw(st.sampled_from(SEEDS)))
    elements = list(root.iter())
    for _ in range(draw(st.integers(1, 3))):
        element = elements[draw(st.integers(0, len(elements) - 1))]
        if draw(st.booleans()):
            element.text = draw(st.text(max_size=30))
        else:
            element.clear()
    return ET.tostring(root, encoding="utf-8")


@FUZZ
@given(element_mutations())
def test_rewritten_elements_never_raise_anything_else(raw: bytes) -> None:
    parse_or_refuse(raw)
