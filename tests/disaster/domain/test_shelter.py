"""The shelter record and the pure readers of open-data cells (capacity text, hazard flags)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from disaster.domain import GeoPoint
from disaster.domain.shelter import (
    HAZARD_NAMES_JA,
    HAZARDS,
    Shelter,
    derive_shelter_id,
    parse_capacity,
    parse_flag,
)

NANAO = GeoPoint(lat=37.03803, lon=136.95849)
FULL_WIDTH = str.maketrans("0123456789,", "０１２３４５６７８９，")


def shelter(**changes: object) -> Shelter:
    fields: dict[str, object] = {
        "id": "CC0000000505",
        "name": "七尾中学校",
        "location": NANAO,
        "kind": "emergency_site",
        "hazards": frozenset({"tsunami", "flood"}),
        "source": "test",
    }
    return Shelter.model_validate(fields | changes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the Nanao recommended-dataset forms
        ("屋内1,371人／屋外5,470人（面積の1/2）", 1371),
        ("屋内191人／屋外0人(面積の1/2)", 191),
        ("屋内0人／屋外118,970人(面積の1/2)", 0),
        ("屋内2,736人屋外11,700人（面積の1/2）", 2736),
        ("屋内90人／屋外1570人(面積の1/2)", 90),
        ("屋内990人／屋外0人(座席数)", 990),
        ("屋内39,400人／屋外0人(面積の1/1)", 39400),
        # full-width digits and separators
        ("屋内１，３７１人／屋外５，４７０人", 1371),
        ("３００人", 300),
        ("屋内：1,000人", 1000),
        ("屋内 約 1,000 人", 1000),
        # unlabelled figures, 約, 万, ranges (lower bound)
        ("500", 500),
        ("500人（体育館）", 500),
        ("約500人", 500),
        ("約1万人", 10000),
        ("1.2万人", 12000),
        ("300～500人", 300),
        ("300〜500人", 300),
        ("300-500人", 300),
        ("屋内200~250人／屋外1,000人", 200),
        # unknown: blanks, dashes, words, outdoor only, ambiguous, fractional
        ("", None),
        ("   ", None),
        ("-", None),
        ("－", None),
        ("不明", None),
        ("屋外5,470人", None),
        ("屋内－／屋外500人", None),
        ("体育館300人、教室200人", None),
        ("1.5人", None),
    ],
)
def test_parse_capacity(text: str, expected: int | None) -> None:
    assert parse_capacity(text) == expected


@given(st.text())
def test_parse_capacity_never_raises(text: str) -> None:
    result = parse_capacity(text)
    assert result is None or result >= 0


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.booleans())
def test_parse_capacity_reads_indoor_of_any_figures(indoor: int, outdoor: int, wide: bool) -> None:
    text = f"屋内{indoor:,}人／屋外{outdoor:,}人(面積の1/2)"
    assert parse_capacity(text.translate(FULL_WIDTH) if wide else text) == indoor


@pytest.mark.parametrize("text", ["1", "1.0", "１", "○", "◯", "〇", "◎", "●", "TRUE", " 1 "])
def test_flag_set(text: str) -> None:
    assert parse_flag(text) is True


@pytest.mark.parametrize("text", ["", " ", "0", "0.0", "×", "-", "－", "false"])
def test_flag_unset(text: str) -> None:
    assert parse_flag(text) is False


@pytest.mark.parametrize("text", ["2", "△", "yes?", "要確認"])
def test_flag_unknown_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="neither set"):
        parse_flag(text)


def test_eight_hazard_categories() -> None:
    assert len(HAZARDS) == 8
    assert tuple(HAZARD_NAMES_JA) == HAZARDS
    assert HAZARD_NAMES_JA["landslide"] == "崖崩れ、土石流及び地滑り"


def test_designated_shelter_is_closed_until_opened() -> None:
    record = shelter()
    assert (record.open, record.occupancy, record.capacity) == (False, 0, None)


def test_record_is_frozen_and_closed_to_extra_fields() -> None:
    record = shelter()
    with pytest.raises(ValidationError):
        record.open = True  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        shelter(floors=3)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hazards": frozenset()}, "at least one hazard"),
        ({"occupancy": 12}, "closed shelter"),
        ({"occupancy": -1, "open": True}, "greater than or equal"),
        ({"capacity": -5}, "greater than or equal"),
        ({"hazards": frozenset({"meteor"})}, "hazards"),
        ({"kind": "school"}, "kind"),
        ({"id": "避難所 1"}, "pattern"),
        ({"name": ""}, "at least 1"),
        ({"elevation_m": float("nan")}, "finite"),
    ],
)
def test_invalid_records_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        shelter(**changes)


def test_shelter_only_and_non_designated_may_have_no_hazards() -> None:
    assert shelter(kind="evacuation_shelter", hazards=frozenset()).hazards == frozenset()
    assert shelter(kind="non_designated", hazards=frozenset()).kind == "non_designated"
    assert shelter(kind="both", hazards=frozenset(), open=True, occupancy=40).occupancy == 40


def test_json_lists_hazards_in_canonical_order_and_round_trips() -> None:
    record = shelter(hazards=frozenset({"volcano", "tsunami", "flood", "earthquake"}))
    dumped = record.model_dump_json()
    assert json.loads(dumped)["hazards"] == ["flood", "earthquake", "tsunami", "volcano"]
    assert Shelter.model_validate_json(dumped) == record


def test_derived_id_is_stable_and_position_sensitive() -> None:
    first = derive_shelter_id("寄合い処みそぎ", GeoPoint(lat=37.04683152, lon=136.9618191))
    assert first == derive_shelter_id(
        " 寄合い処みそぎ", GeoPoint(lat=37.046831521, lon=136.9618191)
    )
    assert first != derive_shelter_id("寄合い処みそぎ", GeoPoint(lat=37.0469, lon=136.9618191))
    assert first.startswith("derived-")
    assert shelter(id=first).id == first


def test_derived_id_agrees_across_full_and_half_width_names() -> None:
    assert derive_shelter_id("ＡＢＣ公園", NANAO) == derive_shelter_id("ABC公園", NANAO)
