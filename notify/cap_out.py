"""Our alerts as OASIS CAP 1.2 documents, for aggregators, broadcasters and other systems.

CAP is how an alert leaves the city in a form anyone can read, so the writer refuses what the
schema or the spec refuses (a ``Z`` time, a comma in an identifier, an Update without
references) instead of publishing a document a reader will drop.

Decisions:

* One ``info`` per language, from the plain (pattern "plain") messages: title as headline, full
  text as description, the level's recommended action as instruction. Personal routes (C, E)
  never go into a public document.
* The 警戒レベル goes in a ``parameter`` named ``JP-AlertLevel`` (read back by
  ``ingest/cap.py``, which also accepts 警戒レベル and JP_ALERT_LEVEL), and the hazard in an
  ``eventCode`` named ``JP-Hazard``; ``JP-AlertColour`` carries the guideline colour, so a
  receiver can show the level as residents know it without a table of its own.
* Urgency, severity, certainty and response type follow the level (:data:`LEVEL_CAP`):

  ===== ========= ======== ========= =================
  level urgency   severity certainty responseType
  ===== ========= ======== ========= =================
  5     Immediate Extreme  Observed  Shelter
  4     Immediate Severe   Likely    Evacuate
  3     Expected  Moderate Likely    Evacuate, Prepare
  2     Future    Minor    Possible  Prepare
  1     Future    Minor    Possible  Monitor
  ===== ========= ======== ========= =================

  Level 5 means the disaster is happening or imminent and moving to a shelter may already be
  dangerous, hence Observed and Shelter (secure safety where you are). ``Unknown`` is never
  used: aggregators reject it. A Cancel says Past, Minor, Observed, AllClear.
* Geometry arrives as GeoJSON (lon, lat) and leaves latitude first, as CAP wants. Coordinates
  are written at full precision (shortest exact decimal, never an exponent), open rings are
  closed, and a circle's radius goes from metres to kilometres. CAP has no holes: only outer
  rings are accepted.
* Municipality codes are geocodes named ``JIS X0402`` (:data:`MUNICIPALITY_GEOCODE`).
* An alert limited to routing profiles (a level 3 for those who need time to evacuate) says so
  in each ``info``'s ``audience``, in its language: the profile names, each with who it means
  (:data:`AUDIENCE_LABELS`). Without a limit there is no ``audience``: everyone is meant.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final, Literal
from xml.etree import ElementTree as ET

from notify.messages import HAZARDS, LEVEL_COLOURS, Message

__all__ = [
    "ALERT_LEVEL_PARAMETER",
    "AUDIENCE_LABELS",
    "CAP_NS",
    "HAZARD_CATEGORIES",
    "LEVEL_CAP",
    "MUNICIPALITY_GEOCODE",
    "CapAlert",
    "CapLevel",
    "alert_to_cap",
    "cap_time",
]

CAP_NS: Final = "urn:oasis:names:tc:emergency:cap:1.2"
ALERT_LEVEL_PARAMETER: Final = "JP-AlertLevel"
HAZARD_EVENT_CODE: Final = "JP-Hazard"
MUNICIPALITY_GEOCODE: Final = "JIS X0402"

Status = Literal["Actual", "Exercise", "System", "Test", "Draft"]
MsgType = Literal["Alert", "Update", "Cancel"]


@dataclass(frozen=True)
class CapLevel:
    """How one 警戒レベル reads in CAP's vocabulary."""

    urgency: str
    severity: str
    certainty: str
    response_types: tuple[str, ...]


LEVEL_CAP: Final[Mapping[int, CapLevel]] = {
    5: CapLevel("Immediate", "Extreme", "Observed", ("Shelter",)),
    4: CapLevel("Immediate", "Severe", "Likely", ("Evacuate",)),
    3: CapLevel("Expected", "Moderate", "Likely", ("Evacuate", "Prepare")),
    2: CapLevel("Future", "Minor", "Possible", ("Prepare",)),
    1: CapLevel("Future", "Minor", "Possible", ("Monitor",)),
}
_CANCEL_CAP: Final = CapLevel("Past", "Minor", "Observed", ("AllClear",))

HAZARD_CATEGORIES: Final[Mapping[str, str]] = {
    "flood": "Met",
    "landslide": "Geo",
    "earthquake": "Geo",
    "tsunami": "Geo",
    "fire": "Fire",
    "storm_surge": "Met",
    "other": "Other",
}

#: Who each routing profile means, per language (others fall back to ``ja``), for ``audience``.
AUDIENCE_LABELS: Final[Mapping[str, Mapping[str, str]]] = {
    "ja": {
        "": "次の避難区分の方が対象です",
        "walk": "自力で歩いて避難できる方",
        "slow_walk": "避難に時間のかかる方（高齢の方、乳幼児連れの方、目の不自由な方など）",
        "wheelchair": "車いすを利用する方",
    },
    "en": {
        "": "Only residents of these evacuation profiles",
        "walk": "able to walk unaided",
        "slow_walk": "needing time to evacuate: elderly, with infants, low vision",
        "wheelchair": "wheelchair users",
    },
}
_BAD_TOKEN = re.compile(r"[\s,<&]")
_LANGUAGE_TAG = re.compile(r"[a-zA-Z]{1,8}(?:-[a-zA-Z0-9]{1,8})*")
_MIN_RING_POINTS = 4


@dataclass(frozen=True)
class CapAlert:
    """Everything one CAP document says.

    ``references`` are the (sender, identifier, sent) of every earlier message of this alert
    (required for Update and Cancel, refused for Alert). ``polygons`` are outer rings of
    (lon, lat) in degrees, ``circles`` (lon, lat, radius_m), ``geocodes`` (valueName, value).
    ``messages`` are plain messages, one per language; a Cancel may have none. ``profiles``
    limit the alert to residents of those routing profiles (empty: everyone).
    """

    identifier: str
    sender: str
    sent: datetime
    level: int
    hazard: str
    area_desc: str
    messages: Sequence[Message] = ()
    status: Status = "Actual"
    msg_type: MsgType = "Alert"
    references: Sequence[tuple[str, str, datetime]] = ()
    polygons: Sequence[Sequence[tuple[float, float]]] = ()
    circles: Sequence[tuple[float, float, float]] = ()
    geocodes: Sequence[tuple[str, str]] = ()
    expires: datetime | None = None
    web: str | None = None
    sender_name: str | None = None
    profiles: Sequence[str] = ()

    def __post_init__(self) -> None:
        _check_token(self.identifier, "identifier")
        _check_token(self.sender, "sender")
        for sender, identifier, _ in self.references:
            _check_token(sender, "reference sender")
            _check_token(identifier, "reference identifier")
        if self.level not in LEVEL_CAP or self.hazard not in HAZARDS:
            msg = f"level {self.level!r} / hazard {self.hazard!r} is not a 1..5 level and hazard"
            raise ValueError(msg)
        if (self.msg_type == "Alert") == bool(self.references):
            msg = "an Update or Cancel must reference earlier messages; an Alert references none"
            raise ValueError(msg)
        if not self.messages and self.msg_type != "Cancel":
            msg = "an Alert or Update needs at least one message (one info per language)"
            raise ValueError(msg)
        if any(message.exercise != (self.status == "Exercise") for message in self.messages):
            msg = "drill messages need status Exercise, and Exercise needs drill messages"
            raise ValueError(msg)
        if unknown := set(self.profiles) - AUDIENCE_LABELS["en"].keys() - {""}:
            msg = f"unknown profiles {sorted(unknown)}: not walk, slow_walk or wheelchair"
            raise ValueError(msg)
        if not self.area_desc.strip():
            msg = "area_desc must not be empty"
            raise ValueError(msg)


def cap_time(moment: datetime) -> str:
    """Return ``YYYY-MM-DDThh:mm:ss±hh:mm``: CAP 1.2 allows no ``Z`` and no fractions."""
    offset = moment.utcoffset()
    if offset is None:
        msg = "CAP times need a timezone"
        raise ValueError(msg)
    if offset.total_seconds() % 60:
        moment = moment.astimezone(UTC)  # CAP offsets have no seconds
    return moment.replace(microsecond=0).isoformat(timespec="seconds")


def alert_to_cap(alert: CapAlert) -> bytes:
    """Return the alert as a UTF-8 CAP 1.2 XML document (valid against the OASIS schema)."""
    root = ET.Element(_tag("alert"))
    _add(root, "identifier", alert.identifier)
    _add(root, "sender", alert.sender)
    _add(root, "sent", cap_time(alert.sent))
    _add(root, "status", alert.status)
    _add(root, "msgType", alert.msg_type)
    _add(root, "scope", "Public")
    if alert.references:
        _add(root, "references", _references(alert.references))
    area = _area(alert)
    for message in alert.messages:
        root.append(_info(alert, message, area))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)


def _info(alert: CapAlert, message: Message, area: ET.Element) -> ET.Element:
    """One ``info`` in the schema's element order."""
    if message.pattern != "plain" or message.level != alert.level:
        msg = f"only plain level-{alert.level} messages go into CAP, not {message.pattern!r}"
        raise ValueError(msg)
    if not _LANGUAGE_TAG.fullmatch(message.language_tag):
        msg = f"language tag {message.language_tag!r} is not an xs:language tag"
        raise ValueError(msg)
    cap = _CANCEL_CAP if alert.msg_type == "Cancel" else LEVEL_CAP[alert.level]
    info = ET.Element(_tag("info"))
    _add(info, "language", message.language_tag)
    _add(info, "category", HAZARD_CATEGORIES[alert.hazard])
    _add(info, "event", message.event or message.title)
    for response in cap.response_types:
        _add(info, "responseType", response)
    _add(info, "urgency", cap.urgency)
    _add(info, "severity", cap.severity)
    _add(info, "certainty", cap.certainty)
    if alert.profiles:
        _add(info, "audience", _audience(alert.profiles, message.language))
    _pair(info, "eventCode", HAZARD_EVENT_CODE, alert.hazard)
    if alert.expires is not None:
        _add(info, "expires", cap_time(alert.expires))
    if alert.sender_name:
        _add(info, "senderName", alert.sender_name)
    _add(info, "headline", message.title)
    _add(info, "description", message.full_text)
    if message.instruction:
        _add(info, "instruction", message.instruction)
    if alert.web:
        _add(info, "web", alert.web)
    _pair(info, "parameter", ALERT_LEVEL_PARAMETER, str(alert.level))
    _pair(info, "parameter", "JP-AlertColour", LEVEL_COLOURS[alert.level])
    info.append(area)
    return info


def _area(alert: CapAlert) -> ET.Element:
    area = ET.Element(_tag("area"))
    _add(area, "areaDesc", alert.area_desc)
    for ring in alert.polygons:
        _add(area, "polygon", _polygon(ring))
    for lon, lat, radius_m in alert.circles:
        if not math.isfinite(radius_m) or radius_m < 0:
            msg = f"circle radius {radius_m!r} m is not a finite distance"
            raise ValueError(msg)
        _add(area, "circle", f"{_lat_lon(lon, lat)} {_decimal(radius_m / 1000)}")
    for name, value in alert.geocodes:
        _pair(area, "geocode", name, value)
    return area


def _audience(profiles: Sequence[str], language: str) -> str:
    """Return the profiles with who they mean, e.g. ``...: wheelchair (wheelchair users)``."""
    labels = AUDIENCE_LABELS.get(language, AUDIENCE_LABELS["ja"])
    return f"{labels['']}: " + ", ".join(f"{p} ({labels[p]})" for p in profiles)


def _polygon(ring: Sequence[tuple[float, float]]) -> str:
    """Write a (lon, lat) ring as CAP's ``lat,lon`` pairs, closing it if it is open."""
    points = list(ring)
    if points and points[0] != points[-1]:
        points.append(points[0])
    if len(points) < _MIN_RING_POINTS:
        msg = f"a polygon needs at least 3 distinct corners, not {len(points) - 1}"
        raise ValueError(msg)
    return " ".join(_lat_lon(lon, lat) for lon, lat in points)


def _lat_lon(lon: float, lat: float) -> str:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"({lon!r}, {lat!r}) is not a (lon, lat) position in degrees"
        raise ValueError(msg)
    return f"{_decimal(lat)},{_decimal(lon)}"


def _decimal(value: float) -> str:
    """Return the shortest exact decimal of a float, never in exponent form (CAP has none)."""
    text = format(Decimal(repr(float(value))), "f")
    return text[:-2] if text.endswith(".0") else text


def _references(references: Sequence[tuple[str, str, datetime]]) -> str:
    return " ".join(
        f"{sender},{identifier},{cap_time(sent)}" for sender, identifier, sent in references
    )


def _check_token(value: str, name: str) -> None:
    if not value or _BAD_TOKEN.search(value):
        msg = f"{name} {value!r} must be non-empty, without spaces, commas, < or &"
        raise ValueError(msg)


def _tag(name: str) -> str:
    return f"{{{CAP_NS}}}{name}"


def _add(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, _tag(name))
    element.text = text
    return element


def _pair(parent: ET.Element, name: str, value_name: str, value: str) -> None:
    """Add a valueName/value element (eventCode, parameter, geocode)."""
    element = ET.SubElement(parent, _tag(name))
    _add(element, "valueName", value_name)
    _add(element, "value", value)
