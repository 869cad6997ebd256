"""Evacuation shelters as the municipality designates them, and their capacity text.

Japan's 災害対策基本法 has two designations. A 指定緊急避難場所 (emergency evacuation site) is
where people flee *to* when a hazard is imminent, and it is designated per hazard: a hill park
may be safe from a tsunami and useless in a landslide. A 指定避難所 (evacuation shelter) is a
building where people *stay* until they can go home. Many schools are both. The model keeps the
two apart because sending people to stay overnight in an open-air site is a real planning error.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Annotated, Literal, get_args

from pydantic import Field, field_serializer, model_validator

from disaster.domain.models import GeoPoint, _Record

__all__ = [
    "HAZARDS",
    "HAZARD_NAMES_JA",
    "Hazard",
    "Shelter",
    "ShelterKind",
    "derive_shelter_id",
    "parse_capacity",
    "parse_flag",
]

Hazard = Literal[
    "flood", "landslide", "storm_surge", "earthquake", "tsunami", "fire", "inland_flood", "volcano"
]
HAZARDS: tuple[Hazard, ...] = get_args(Hazard)

HAZARD_NAMES_JA: dict[Hazard, str] = {
    "flood": "洪水",
    "landslide": "崖崩れ、土石流及び地滑り",
    "storm_surge": "高潮",
    "earthquake": "地震",
    "tsunami": "津波",
    "fire": "大規模な火事",
    "inland_flood": "内水氾濫",
    "volcano": "火山現象",
}
"""The eight hazard categories of the 指定緊急避難場所 system, as open-data columns name them."""

ShelterKind = Literal["evacuation_shelter", "emergency_site", "both", "non_designated"]
"""指定避難所, 指定緊急避難場所, both, or a site opened during an event without designation.

``non_designated`` exists because real open-shelter lists contain them (Nanao's 2024 list has
community spaces and care homes numbered NEW001…): people sheltering there still count.
"""

ShelterId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")]


class Shelter(_Record):
    """A designated (or ad-hoc) evacuation site and, when known, whether it is open now.

    ``open`` defaults to False: designation says a site *may* be opened; only the
    municipality's 開設 decision makes it open, and routing people to a locked gym is worse than
    not routing them. ``occupancy`` is reported only for open sites, so a closed one holds 0.
    ``capacity`` is the indoor stay capacity in persons (see :func:`parse_capacity`); None means
    the source does not say. ``capacity_note`` keeps the original text, outdoor area included.
    ``hazards`` lists the hazards the site is designated safe for as a 指定緊急避難場所; it is
    empty for a 指定避難所-only record (GSI publishes no hazard flags for those) and for
    non-designated sites, so an empty set means "not vouched for", never "safe for all".
    ``source`` names the format and file, for attribution (CC BY 4.0, 国土地理院) and audit.
    """

    id: ShelterId
    name: str = Field(min_length=1, max_length=200)
    location: GeoPoint
    address: str | None = Field(default=None, max_length=500)
    capacity: int | None = Field(default=None, ge=0)
    capacity_note: str = Field(default="", max_length=500)
    occupancy: int = Field(default=0, ge=0)
    open: bool = False
    hazards: frozenset[Hazard] = frozenset()
    kind: ShelterKind
    elevation_m: float | None = Field(default=None, ge=-100.0, le=4000.0, allow_inf_nan=False)
    source: str = Field(min_length=1, max_length=300)

    @model_validator(mode="after")
    def _check_consistent(self) -> Shelter:
        if self.kind == "emergency_site" and not self.hazards:
            msg = "a 指定緊急避難場所 is designated per hazard, so it needs at least one hazard"
            raise ValueError(msg)
        if not self.open and self.occupancy:
            msg = "a closed shelter cannot have occupants; set open=True with the occupancy"
            raise ValueError(msg)
        return self

    @field_serializer("hazards")
    def _hazards_in_order(self, hazards: frozenset[Hazard]) -> list[Hazard]:
        """Serialise in the canonical order so the same shelter always gives the same JSON."""
        return [hazard for hazard in HAZARDS if hazard in hazards]


def derive_shelter_id(name: str, location: GeoPoint) -> str:
    """Return a stable id for a site whose source gives none, from its name and position.

    The name is NFKC-normalised so full-width and half-width spellings of one site agree, and
    the position is rounded to 6 decimals (≈0.1 m) so float noise between exports does not
    change the id.
    """
    key = f"{unicodedata.normalize('NFKC', name).strip()}|{location.lat:.6f}|{location.lon:.6f}"
    return "derived-" + hashlib.sha256(key.encode()).hexdigest()[:16]


_NUMBER = r"\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?"
_AMOUNT = re.compile(rf"(?P<number>{_NUMBER})\s*(?P<man>万)?")
_RANGE = re.compile(rf"({_NUMBER})\s*(万?)\s*[人名]?\s*[~〜\-–—]\s*(?:{_NUMBER})\s*万?")
_INDOOR = re.compile(rf"屋内\s*:?\s*(?:約)?\s*(?P<number>{_NUMBER})\s*(?P<man>万)?")
_NOTE = re.compile(r"\([^)]*\)")


def parse_capacity(text: str) -> int | None:
    """Return the number of persons a site can shelter indoors, or None when the text won't say.

    Indoor capacity is what counts: a shelter is where people stay, and the outdoor figure
    (often "面積の1/2" of a schoolyard) is standing room for the first hour. So
    "屋内0人／屋外1,000人" is 0, an open-air site, and text naming only 屋外 is None. A range
    gives its lower bound, 約 is taken at its word, and anything ambiguous (several unlabelled
    figures, no figure, "-") is None rather than a guess.
    """
    cleaned = _RANGE.sub(r"\1\2", _NOTE.sub("", unicodedata.normalize("NFKC", text)))
    indoor = _INDOOR.search(cleaned)
    if indoor is not None:
        return _persons(indoor)
    if "屋外" in cleaned:
        return None
    amounts = list(_AMOUNT.finditer(cleaned))
    return _persons(amounts[0]) if len(amounts) == 1 else None


def _persons(match: re.Match[str]) -> int | None:
    """Turn a matched figure (with an optional 万) into persons; a fractional head count is None."""
    value = float(match["number"].replace(",", "")) * (10_000 if match["man"] else 1)
    return int(value) if value.is_integer() else None


_FLAG_SET = frozenset({"1", "1.0", "○", "◯", "〇", "◎", "●", "true"})
_FLAG_UNSET = frozenset({"", "0", "0.0", "×", "✕", "-", "−", "false"})


def parse_flag(text: str) -> bool:
    """Read a 災害種別 or 住所同一 cell as open data writes it: 1, 1.0, ○, ◎ set; blank, 0, × not.

    Any other mark raises ValueError: whether a site is safe from a tsunami is not something an
    importer may guess. Full-width forms (１, ０) are read through NFKC.
    """
    value = unicodedata.normalize("NFKC", text).strip().lower()
    if value in _FLAG_SET:
        return True
    if value in _FLAG_UNSET:
        return False
    msg = f"flag {text!r} is neither set (1, ○, ◎) nor unset (blank, 0, ×)"
    raise ValueError(msg)
