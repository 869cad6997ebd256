"""Resident messages: catalogue contract, lock-screen bounds, colours, drills and payload size."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notify.messages import (
    BODY_MAX_CHARS,
    HAZARDS,
    INCIDENT_KINDS,
    JST,
    LEVEL_COLOURS,
    MESSAGE_KEYS,
    NO_LEVEL_COLOUR,
    PUSH_PAYLOAD_MAX_BYTES,
    TITLE_MAX_CHARS,
    AlertFacts,
    BuildingFacts,
    Catalogue,
    CatalogueError,
    IncidentFacts,
    Message,
    NoRouteFacts,
    RouteFacts,
    compose_alert,
    compose_pattern_c,
    compose_pattern_d,
    compose_pattern_e,
    load_catalogue,
)

SHIPPED = Path(__file__).resolve().parents[2] / "notify" / "catalogue"
CATALOGUE = load_catalogue()
LANGUAGES = ("ja", "ja-easy", "en")
ISSUED = datetime(2026, 11, 22, 4, 10, tzinfo=UTC)  # 13:10 JST
LONG = "ながいながい名前の" * 30
EXERCISE_MARKS = {"ja": "【訓練】", "ja-easy": "【訓練（くんれん）】", "en": "[DRILL] "}


def _alert(level: int = 4, hazard: str = "flood", **changes: object) -> AlertFacts:
    fields: dict[str, object] = {
        "level": level,
        "hazard": hazard,
        "area_name": "○○川",
        "headline": None,
        "issued_at": ISSUED,
        "exercise": False,
    }
    return AlertFacts(**(fields | changes))  # type: ignore[arg-type]


def _route(name: str = "○○小学校", **changes: object) -> RouteFacts:
    fields: dict[str, object] = {
        "shelter_name": name,
        "distance_m": 1234.0,
        "minutes": 14.2,
        "map_url": "https://city.example.jp/map?r=1",
        "profile": "walk",
    }
    return RouteFacts(**(fields | changes))  # type: ignore[arg-type]


def _incident(
    kind: str = "fire", place: str = "○○町2丁目", avoid: str | None = "○○通り"
) -> IncidentFacts:
    return IncidentFacts(kind, place, 850.0, avoid, ISSUED)


def _every_message(alert: AlertFacts, language: str, name: str) -> list[Message]:
    """One message of each pattern and variant for this alert, with ``name`` for every name."""
    return [
        compose_alert(alert, language, CATALOGUE),
        compose_pattern_c(alert, _route(name), language, CATALOGUE),
        compose_pattern_c(alert, _route(name, building=BuildingFacts(2.4, 3, name)), language,
                          CATALOGUE),
        compose_pattern_c(alert, NoRouteFacts("too_late", name, 3), language, CATALOGUE),
        compose_pattern_c(alert, NoRouteFacts("no_shelter", name, None), language, CATALOGUE),
        compose_pattern_c(alert, NoRouteFacts("roads_blocked", None, 3), language, CATALOGUE),
        compose_pattern_c(alert, NoRouteFacts("shelters_full"), language, CATALOGUE),
        compose_pattern_e(alert, BuildingFacts(2.4, 3, name), language, CATALOGUE),
        compose_pattern_e(alert, BuildingFacts(0.0, 1, None), language, CATALOGUE),
        compose_pattern_d(
            _incident(place=name, avoid=name), language, CATALOGUE,
            level=alert.level, exercise=alert.exercise,
        ),
    ]  # fmt: skip


def _copy_shipped(tmp_path: Path) -> Path:
    for path in SHIPPED.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _edit(path: Path, **messages: str) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    document["messages"].update(messages)
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


# --- the catalogue ------------------------------------------------------------------------------


def test_the_shipped_languages_are_there() -> None:
    assert set(LANGUAGES) <= set(CATALOGUE.languages)
    assert CATALOGUE.languages[0] == "ja"
    assert CATALOGUE.language_tag("ja-easy") == "ja-JP-x-easy"


@pytest.mark.parametrize("language", sorted(p.stem for p in SHIPPED.glob("*.json")))
def test_every_shipped_catalogue_has_every_japanese_key(language: str) -> None:
    japanese = json.loads((SHIPPED / "ja.json").read_text(encoding="utf-8"))["messages"]
    own = json.loads((SHIPPED / f"{language}.json").read_text(encoding="utf-8"))["messages"]
    assert set(japanese) - set(own) == set()
    assert CATALOGUE.missing_keys(language) == frozenset()


def test_japanese_has_every_key_the_code_uses() -> None:
    assert set(CATALOGUE.templates["ja"]) == set(MESSAGE_KEYS)


def test_a_new_language_is_a_file_away(tmp_path: Path) -> None:
    directory = _copy_shipped(tmp_path)
    vietnamese = {
        "mark.level": "[Cấp {level}]",
        "level.4": "Sơ tán",
        "title.alert": "{mark} {level_name}: {hazard_risk}, {area}",
    }
    document = {"language_tag": "vi-VN", "name": "Tiếng Việt", "messages": vietnamese}
    (directory / "vi.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    catalogue = load_catalogue(directory)
    message = compose_alert(_alert(), "vi", catalogue)
    assert message.language == "vi"
    assert message.language_tag == "vi-VN"
    assert message.title == "[Cấp 4] Sơ tán: 氾濫の危険, ○○川"  # missing keys come from Japanese
    assert catalogue.missing_keys("vi") == frozenset(MESSAGE_KEYS) - set(vietnamese)


def test_a_key_missing_in_a_language_falls_back_to_japanese(tmp_path: Path) -> None:
    directory = _copy_shipped(tmp_path)
    document = json.loads((directory / "en.json").read_text(encoding="utf-8"))
    del document["messages"]["incident.fire"]
    (directory / "en.json").write_text(json.dumps(document), encoding="utf-8")
    message = compose_pattern_d(_incident(), "en", load_catalogue(directory))
    assert message.title == "[Incident] 火災: ○○町2丁目"


@pytest.mark.parametrize(
    ("requested", "resolved"),
    [("ja", "ja"), ("en", "en"), ("EN", "en"), ("en-US", "en"), ("en-GB", "en"),
     ("ja-JP", "ja"), ("ja-easy", "ja-easy"), ("ja-JP-x-easy", "ja-easy"), ("fr", "ja"),
     ("", "ja"), ("zz-Latn", "ja")],
)  # fmt: skip
def test_languages_resolve_and_unknown_ones_fall_back_to_japanese(
    requested: str, resolved: str
) -> None:
    assert CATALOGUE.resolve(requested) == resolved
    assert compose_alert(_alert(), requested, CATALOGUE).language == resolved


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        ({"title.alert": "{mark}{shelter}"}, r"title\.alert: unknown placeholder \{shelter\}"),
        ({"body.alert": "{area.upper}"}, r"body\.alert: placeholder \{area\.upper\} must be"),
        ({"body.alert": "{area!r}"}, "must be a plain name"),
        ({"body.alert": "{area:>10}"}, "must be a plain name"),
        ({"body.alert": "{area"}, "bad braces"),
        ({"no.such.key": "x"}, r"no\.such\.key: unknown key"),
        ({"level.4": 4}, "must be a string"),
        ({"body.route": "{action}" + "あ" * 90}, "body .* is over 90 chars"),
        ({"title.alert": "{mark}" + "あ" * 60}, "title .* is over"),
    ],
)
def test_bad_templates_are_refused_at_load(
    tmp_path: Path, messages: dict[str, object], reason: str
) -> None:
    directory = _copy_shipped(tmp_path)
    _edit(directory / "en.json", **messages)  # type: ignore[arg-type]
    with pytest.raises(CatalogueError, match=reason):
        load_catalogue(directory)


def test_a_catalogue_without_japanese_is_refused(tmp_path: Path) -> None:
    shutil.copy(SHIPPED / "en.json", tmp_path / "en.json")
    with pytest.raises(CatalogueError, match=r"no ja\.json"):
        load_catalogue(tmp_path)


def test_japanese_missing_a_key_is_refused(tmp_path: Path) -> None:
    directory = _copy_shipped(tmp_path)
    document = json.loads((directory / "ja.json").read_text(encoding="utf-8"))
    del document["messages"]["body.route"]
    (directory / "ja.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"ja\.json lacks keys body\.route"):
        load_catalogue(directory)


@pytest.mark.parametrize(
    ("content", "reason"),
    [("{not json", "UTF-8 JSON"), ("[]", "'messages' object"),
     ('{"language_tag": "日本", "messages": {}}', "xs:language")],
)  # fmt: skip
def test_unreadable_files_are_refused(tmp_path: Path, content: str, reason: str) -> None:
    directory = _copy_shipped(tmp_path)
    (directory / "xx.json").write_text(content, encoding="utf-8")
    with pytest.raises(CatalogueError, match=rf"xx\.json: .*{reason}"):
        load_catalogue(directory)


def test_an_unknown_placeholder_at_render_time_names_itself() -> None:
    catalogue = Catalogue(
        templates={"ja": {**CATALOGUE.templates["ja"], "body.alert": "{nonsense}"}},
        language_tags={"ja": "ja-JP"},
    )
    with pytest.raises(CatalogueError, match=r"unknown placeholder \{nonsense\}"):
        compose_alert(_alert(), "ja", catalogue)


# --- what residents see ---------------------------------------------------------------------------


def test_titles_match_the_issue_examples() -> None:
    assert (
        compose_alert(_alert(), "ja", CATALOGUE).title == "【警戒レベル4】避難指示 ○○川 氾濫の危険"
    )
    english = compose_alert(_alert(area_name="○○ River"), "en", CATALOGUE)
    assert english.title == "[Level 4] Evacuate: flooding risk, ○○ River"


def test_pattern_e_gives_building_level_advice() -> None:
    message = compose_pattern_e(_alert(), BuildingFacts(2.4, 3, None), "ja", CATALOGUE)
    assert message.body == "ご自宅の想定浸水深は2.4m。避難できない場合は3階以上へ。"
    assert message.pattern == "E"
    assert "3階以上の安全な場所" in message.full_text
    named = compose_pattern_e(_alert(), BuildingFacts(0.6, 2, "○○ビル"), "en", CATALOGUE)
    assert named.body.startswith("Expected flood depth at ○○ビル: 0.6 m.")
    dry = compose_pattern_e(_alert(), BuildingFacts(0.0, 1, None), "ja", CATALOGUE)
    assert "浸水想定区域の外" in dry.body


def test_pattern_c_gives_the_route_and_the_map() -> None:
    message = compose_pattern_c(_alert(), _route(), "ja", CATALOGUE)
    assert message.body == (
        "危険な場所から全員避難してください。避難先：○○小学校（1.2km、徒歩約15分）。タップで地図。"
    )
    assert message.url == "https://city.example.jp/map?r=1"
    assert "地図：https://city.example.jp/map?r=1" in message.full_text
    english = compose_pattern_c(_alert(), _route(profile="wheelchair"), "en", CATALOGUE)
    assert "Go to ○○小学校: 1.2 km, about 15 min by wheelchair." in english.body


@pytest.mark.parametrize(
    ("language", "depth_line"),
    [("ja", "ご自宅付近の想定浸水深：1.2m。避難が間に合わない場合は2階以上へ。"),
     ("ja-easy", "あなたの 家（いえ）の あたりは 水（みず）の 深（ふか）さが 1.2メートルに "
                 "なるかも しれません。逃（に）げるのが 間（ま）に 合（あ）わないときは "
                 "2階（かい）か もっと 上（うえ）へ 行（い）って ください。"),
     ("en", "Expected flood depth near your home: 1.2 m. If you cannot get there in time, "
            "go up to floor 2 or higher.")],
)  # fmt: skip
def test_pattern_c_with_a_route_also_tells_the_depth_at_home(
    language: str, depth_line: str
) -> None:
    """Issue 8: the route stays the advice (title, body and map as without a depth), and the
    full text says, right under the route, how deep the water is expected where the resident
    is and which floor to go up to should they not get away in time."""
    plain = compose_pattern_c(_alert(), _route(), language, CATALOGUE)
    wet = compose_pattern_c(_alert(), _route(building=BuildingFacts(1.2, 2)), language, CATALOGUE)
    assert (wet.title, wet.body, wet.url) == (plain.title, plain.body, plain.url)
    lines = plain.full_text.splitlines()
    after = next(i for i, line in enumerate(lines) if "https://city.example.jp/map" in line) + 1
    assert wet.full_text.splitlines() == [*lines[:after], depth_line, *lines[after:]]
    dry = compose_pattern_c(_alert(), _route(building=BuildingFacts(0.0, 1)), language, CATALOGUE)
    assert dry.full_text == plain.full_text  # nothing to say about a dry building by a route


@pytest.mark.parametrize(
    ("advice", "body", "reason"),
    [
        (NoRouteFacts("too_late", "○○マンション", 3), "近くの○○マンションの3階以上へ。",
         "今から避難所へ向かうのはかえって危険です。"),
        (NoRouteFacts("shelters_full", "○○ビル"), "近くの○○ビルのできるだけ上の階へ。",
         "近くの避難所は満員です。"),
        (NoRouteFacts("roads_blocked", None, 2), "建物の2階以上へ。", "通行止めか浸水"),
        (NoRouteFacts("堤防が決壊しました"), "屋内のできるだけ高い所へ上がってください。",
         "理由：堤防が決壊しました"),
        (NoRouteFacts(""), "屋内のできるだけ高い所へ", ""),
    ],
)  # fmt: skip
def test_pattern_c_without_a_route_says_go_up(advice: NoRouteFacts, body: str, reason: str) -> None:
    message = compose_pattern_c(_alert(5), advice, "ja", CATALOGUE)
    assert message.body.startswith("外へ出るのは危険です。")
    assert body in message.body
    assert reason in message.full_text
    assert message.url is None
    assert message.title.startswith("【警戒レベル5】緊急安全確保")


def test_pattern_d_says_what_where_how_far_and_what_to_avoid() -> None:
    message = compose_pattern_d(_incident(), "ja", CATALOGUE)
    assert message.title == "【発生情報】火災 ○○町2丁目"
    assert message.body == "○○町2丁目で火災。あなたから約850m。○○通りを避けてください。"
    assert message.level is None
    assert message.colour == NO_LEVEL_COLOUR
    assert message.hazard == "fire"
    assert "風上" in message.full_text
    with_level = compose_pattern_d(_incident(avoid=None), "en", CATALOGUE, level=4)
    assert with_level.title == "[Level 4] Fire: ○○町2丁目"
    assert with_level.body == "Fire at ○○町2丁目, about 850 m from you. Keep away."
    assert with_level.colour == "#AA00AA"
    with pytest.raises(ValueError, match=r"level must be 1\.\.5"):
        compose_pattern_d(_incident(), "ja", CATALOGUE, level=6)


@pytest.mark.parametrize(
    ("metres", "minutes", "ja", "en"),
    [
        (850.0, 11.2, "850m、徒歩約12分", "850 m, about 12 min on foot"),
        (4.0, 0.1, "10m、徒歩約1分", "10 m, about 1 min on foot"),
        (996.0, 12.0, "1.0km、徒歩約12分", "1.0 km, about 12 min on foot"),
        (1234.0, 14.2, "1.2km、徒歩約15分", "1.2 km, about 15 min on foot"),
        (12_345.0, 150.0, "12km、徒歩約150分", "12 km, about 150 min on foot"),
    ],
)
def test_distances_and_minutes_read_naturally(
    metres: float, minutes: float, ja: str, en: str
) -> None:
    route = _route(distance_m=metres, minutes=minutes)
    assert ja in compose_pattern_c(_alert(), route, "ja", CATALOGUE).body
    assert en in compose_pattern_c(_alert(), route, "en", CATALOGUE).body


def test_times_are_shown_in_japan_time() -> None:
    assert "11月22日13時10分" in compose_alert(_alert(), "ja", CATALOGUE).full_text
    assert "13:10 JST, 2026-11-22" in compose_alert(_alert(), "en", CATALOGUE).full_text


def test_the_headline_leads_the_body_in_its_own_language() -> None:
    alert = _alert(headline={"ja": "○○川が氾濫危険水位に到達"})
    japanese = compose_alert(alert, "ja", CATALOGUE)
    assert japanese.body == "○○川が氾濫危険水位に到達　危険な場所から全員避難してください。"
    assert "○○川が氾濫危険水位に到達" in japanese.full_text
    assert compose_alert(alert, "en", CATALOGUE).body.startswith("Alert level 4 for ○○川.")


@pytest.mark.parametrize("level", sorted(LEVEL_COLOURS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_level_is_clear_without_reading_colour_and_number(level: int, language: str) -> None:
    for message in _every_message(_alert(level), language, "○○"):
        assert message.level == level
        assert message.colour == LEVEL_COLOURS[level]
        mark = CATALOGUE.template(language, "mark.level").format(level=level)
        assert message.title.startswith(mark)


def test_colours_follow_the_guideline() -> None:
    assert LEVEL_COLOURS == {
        5: "#0C000C",  # 黒
        4: "#AA00AA",  # 紫
        3: "#FF2800",  # 赤
        2: "#F2E700",  # 黄
        1: "#FFFFFF",  # 白
    }
    assert NO_LEVEL_COLOUR not in LEVEL_COLOURS.values()


@pytest.mark.parametrize("language", LANGUAGES)
def test_drills_say_so_first(language: str) -> None:
    notice = CATALOGUE.template(language, "exercise.notice")
    for message in _every_message(_alert(3, exercise=True), language, "○○"):
        assert message.exercise
        assert message.title.startswith(EXERCISE_MARKS[language])
        assert message.full_text.startswith(notice)
    for message in _every_message(_alert(3), language, "○○"):
        assert not message.exercise
        assert EXERCISE_MARKS[language].strip() not in message.title
        assert notice not in message.full_text


@pytest.mark.parametrize("level", sorted(LEVEL_COLOURS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_pattern_fits_the_lock_screen_with_long_names(level: int, language: str) -> None:
    for hazard in HAZARDS:
        alert = _alert(level, hazard, area_name=LONG, headline={language: LONG}, exercise=True)
        risk = CATALOGUE.template(language, f"hazard_risk.{hazard}")
        for message in _every_message(alert, language, LONG):
            assert len(message.body) <= BODY_MAX_CHARS
            assert len(message.title) <= TITLE_MAX_CHARS
            if message.pattern != "D":
                assert risk in message.title  # the hazard is never the part cut
            assert LONG in message.full_text  # the full text is never cut


@pytest.mark.parametrize("kind", INCIDENT_KINDS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_incidents_fit_and_keep_their_kind(kind: str, language: str) -> None:
    message = compose_pattern_d(_incident(kind, LONG, LONG), language, CATALOGUE, exercise=True)
    assert len(message.body) <= BODY_MAX_CHARS
    assert len(message.title) <= TITLE_MAX_CHARS
    assert CATALOGUE.template(language, f"incident.{kind}") in message.title


_names = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=300)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    level=st.integers(1, 5),
    hazard=st.sampled_from(HAZARDS),
    language=st.sampled_from(LANGUAGES),
    exercise=st.booleans(),
    area=_names,
    name=_names,
    metres=st.floats(0, 200_000),
    minutes=st.floats(0, 5000),
)
def test_bounds_hold_for_any_names_and_numbers(
    level: int, hazard: str, language: str, exercise: bool, area: str, name: str,
    metres: float, minutes: float,
) -> None:  # fmt: skip
    alert = _alert(level, hazard, area_name=area, headline={language: name}, exercise=exercise)
    messages = [
        *_every_message(alert, language, name),
        compose_pattern_c(alert, _route(name, distance_m=metres, minutes=minutes), language,
                          CATALOGUE),
    ]  # fmt: skip
    mark = CATALOGUE.template(language, "mark.level").format(level=level)
    for message in messages:
        assert len(message.body) <= BODY_MAX_CHARS
        assert len(message.title) <= TITLE_MAX_CHARS
        assert message.title.removeprefix(EXERCISE_MARKS[language] if exercise else "").startswith(
            mark
        )
        assert len(message.to_push_payload()) <= PUSH_PAYLOAD_MAX_BYTES


def test_long_names_are_cut_at_a_word_break_with_an_ellipsis() -> None:
    area = "North Riverside District of the Old Town along the Great River"
    message = compose_alert(_alert(area_name=area), "en", CATALOGUE)
    shown = message.title.removeprefix("[Level 4] Evacuate: flooding risk, ")
    assert shown.endswith("…")
    assert area.startswith(shown.removesuffix("…"))
    assert area[len(shown) - 1] == " "  # cut where a word ends


# --- the push payload ---------------------------------------------------------------------


def test_the_payload_is_compact_utf8_json() -> None:
    message = compose_pattern_c(_alert(), _route(), "ja", CATALOGUE)
    payload = message.to_push_payload()
    assert "避難指示".encode() in payload  # not \\u escapes
    assert b", " not in payload
    decoded = json.loads(payload)
    assert decoded["title"] == message.title
    assert decoded["full_text"] == message.full_text
    assert decoded["colour"] == "#AA00AA"
    assert decoded["level"] == 4
    assert decoded["pattern"] == "C"
    assert decoded["language"] == "ja-JP"
    assert decoded["url"] == "https://city.example.jp/map?r=1"


def test_extra_fields_join_the_payload_but_never_replace_the_message() -> None:
    message = compose_alert(_alert(), "ja", CATALOGUE)
    decoded = json.loads(message.to_push_payload({"tag": "alert-1", "alert_id": "alert-1"}))
    assert (decoded["tag"], decoded["title"]) == ("alert-1", message.title)
    with pytest.raises(ValueError, match="may not replace the message's own: title"):
        message.to_push_payload({"title": "something else"})


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_huge_full_text_is_trimmed_but_title_and_body_are_not(language: str) -> None:
    alert = _alert(area_name="漢" * 5000, headline={language: '"引用"\n' * 2000})
    message = compose_alert(alert, language, CATALOGUE)
    payload = message.to_push_payload()
    assert len(payload) <= PUSH_PAYLOAD_MAX_BYTES
    assert len(payload) > PUSH_PAYLOAD_MAX_BYTES - 10  # trimmed no more than needed
    decoded = json.loads(payload)
    assert (decoded["title"], decoded["body"]) == (message.title, message.body)
    assert decoded["full_text"].endswith("…")
    assert message.full_text.startswith(decoded["full_text"].removesuffix("…"))


# --- input checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"level": 6}, "level must be 1..5"), ({"level": 0}, "level must be 1..5"),
     ({"hazard": "meteor"}, "hazard 'meteor'"),
     ({"issued_at": datetime(2026, 1, 1)}, "timezone-aware")],  # noqa: DTZ001 - the naive time is the point
)  # fmt: skip
def test_impossible_alerts_are_refused(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        _alert(**changes)


def test_impossible_facts_are_refused() -> None:
    with pytest.raises(ValueError, match="distance_m"):
        _route(distance_m=float("nan"))
    with pytest.raises(ValueError, match="incident kind"):
        IncidentFacts("alien", "x", 1.0, None, ISSUED)
    with pytest.raises(ValueError, match="safe_floor"):
        BuildingFacts(1.0, 0)
    assert JST.utcoffset(None).total_seconds() == 9 * 3600
