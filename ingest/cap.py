"""CAP alerts (1.1 and 1.2), and the Atom/RSS feeds and EDXL-DE envelopes that carry them.

:func:`parse_cap` is pure: bytes in, :class:`WeatherReport` records out, or
:class:`InvalidInputError` with a short reason for the dead-letter queue. Foreign agencies'
alerts arrive in all of these wrappers, so the wrapper is peeled here and the rules never see it.

Decisions:

* Times. CAP 1.2 fixes ``YYYY-MM-DDThh:mm:ss±hh:mm`` (no ``Z``, no fractions) and is held to it.
  CAP 1.1 typed times as plain ``xs:dateTime``, so there ``Z`` and fractional seconds pass too.
  A time without a zone, or an impossible date, is always a rejection.
* Feeds and envelopes. Only alerts embedded inline (Atom ``content``, an RSS ``item`` child,
  EDXL-DE ``embeddedXMLContent``) are parsed; entries that only link to one are skipped, as this
  function does no I/O. A wrapper yielding nothing is rejected, and so is the whole document when
  any embedded alert is invalid (the reason names the entry): dead-lettered, not dropped.
* Series. ``series`` is the id of the earliest-sent message in ``references`` (the first listed
  on a tie), with *that* message's sender, so an Update or Cancel joins its original's series.
* 警戒レベル. Only an explicit Japanese level counts: a parameter named 警戒レベル or
  JP_ALERT_LEVEL, or the generic AlertLevel inside a Japanese-language info, with a value 1-5.
* Encodings. Only listed charsets are read: those expat reads itself, and the multi-byte ones
  it cannot (Shift_JIS, EUC-JP, ISO-2022-JP, ...) that Japanese systems still emit, which are
  transcoded to UTF-8 for the same hardened parser. Odd Python codecs (idna, unicode_escape)
  misbehave inside expat, so a declared name is never looked up as a codec.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar
from xml.etree.ElementTree import Element

from pydantic import ValidationError
from shapely.errors import ShapelyError

from disaster.domain import AlertLevel, GeoPoint, InvalidInputError, PolygonArea
from disaster.domain.weather import Circle, Geocode, ReportArea, WarningItem, WeatherReport
from ingest._xml import parse_xml

__all__ = ["parse_cap"]

_T = TypeVar("_T")

_CAP_VERSIONS = {f"urn:oasis:names:tc:emergency:cap:{v}": v for v in ("1.1", "1.2")}
_ALERT_TAGS = frozenset(f"{{{ns}}}alert" for ns in _CAP_VERSIONS)
_ATOM = "{http://www.w3.org/2005/Atom}"
_EDXL = "{urn:oasis:names:tc:emergency:EDXL:DE:1.0}"

_MODES = {"Actual": "actual", "Exercise": "exercise", "System": "test", "Test": "test",
          "Draft": "test"}  # fmt: skip
_INFO_TYPES = {"Alert": "issue", "Update": "update", "Cancel": "cancel"}
_NOT_INGESTED = ("Ack", "Error")
_SCOPES = ("Public", "Restricted", "Private")
_CATEGORIES = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
               "Transport", "Infra", "CBRNE", "Other")  # fmt: skip
_RESPONSE_TYPES = ("Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess",
                   "AllClear", "None")  # fmt: skip
_URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
_SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
_CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
_INFO_TIMES = ("effective", "onset", "expires")

#: RFC 4287 children; anything else in the Atom namespace is a malformed feed.
_ATOM_COMMON = ("author", "category", "contributor", "id", "link", "rights", "title", "updated")
_ATOM_FEED = frozenset((*_ATOM_COMMON, "entry", "generator", "icon", "logo", "subtitle"))
_ATOM_ENTRY = frozenset((*_ATOM_COMMON, "content", "published", "source", "summary"))

_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_NUMBER_RE = re.compile(_NUMBER)
_LAT_LON = re.compile(rf"({_NUMBER}),({_NUMBER})")
_DATE_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
_STRICT_TIME = re.compile(rf"{_DATE_TIME}[+-][0-9]{{2}}:[0-9]{{2}}")
_LENIENT_TIME = re.compile(rf"{_DATE_TIME}(?:\.[0-9]{{1,9}})?(?:Z|[+-][0-9]{{2}}:[0-9]{{2}})")
_BAD_TOKEN = re.compile(r"[\s,<&]")
_JP_LEVEL_NAMES = frozenset({"警戒レベル", "jpalertlevel"})
_GENERIC_LEVEL_NAME = "alertlevel"
_LEVEL_VALUE = re.compile(r"(?:警戒)?(?:レベル|level)?\s*([1-5])", re.IGNORECASE)
_SHOWN_CHARS = 60


def parse_cap(raw: bytes) -> list[WeatherReport]:
    """Return the reports in a CAP alert, Atom/RSS feed or EDXL-DE envelope.

    Raises :class:`InvalidInputError` for anything unsafe, malformed or not ingested (Ack and
    Error messages); no other exception escapes, whatever the bytes.
    """
    root = parse_xml(raw)
    if root.tag in _ALERT_TAGS:
        return [_within("", _alert, root)]
    if root.tag == f"{_ATOM}feed":
        return _atom(root)
    if root.tag == "rss":
        return _rss(root)
    if root.tag == f"{_EDXL}EDXLDistribution":
        return _edxl(root)
    msg = f"not a CAP 1.1/1.2 alert, Atom/RSS feed or EDXL-DE envelope: root is {_show(root.tag)}"
    raise InvalidInputError(msg)


class _Carrier(NamedTuple):
    """One feed entry or envelope part: the alerts it embeds, and whether it links elsewhere."""

    label: str
    alerts: list[Element]
    links: bool


def _embedded(parent: Element | None) -> list[Element]:
    return [] if parent is None else [child for child in parent if child.tag in _ALERT_TAGS]


def _from_carriers(carriers: list[_Carrier], what: str, plural: str) -> list[WeatherReport]:
    """Parse every embedded alert; refuse a wrapper that yields none, saying why."""
    if not carriers:
        msg = f"{what} has no {plural}"
        raise InvalidInputError(msg)
    reports = [_within(c.label, _alert, alert) for c in carriers for alert in c.alerts]
    if not reports:
        linked = sum(c.links for c in carriers)
        msg = (
            f"{what} has no embedded CAP alerts: "
            f"{linked} of {len(carriers)} {plural} link elsewhere"
        )
        raise InvalidInputError(msg)
    return reports


def _atom(feed: Element) -> list[WeatherReport]:
    _check_atom(feed, "feed", _ATOM_FEED)
    carriers = []
    for index, entry in enumerate(feed.findall(f"{_ATOM}entry"), 1):
        label = f"entry {index}"
        _check_atom(entry, label, _ATOM_ENTRY)
        content = entry.find(f"{_ATOM}content")
        links = entry.find(f"{_ATOM}link") is not None or (
            content is not None and "src" in content.attrib
        )
        if content is None and not links:
            msg = f"{label} has neither content nor a link"
            raise InvalidInputError(msg)
        carriers.append(_Carrier(label, _embedded(content), links))
    return _from_carriers(carriers, "feed", "entries")


def _check_atom(element: Element, what: str, allowed: frozenset[str]) -> None:
    """Enforce RFC 4287's one id, title and updated, and no element Atom does not define."""
    for child in element:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag.startswith(_ATOM) and (name := tag.removeprefix(_ATOM)) not in allowed:
            msg = f"{what} has an element {_show(name)} that Atom does not define"
            raise InvalidInputError(msg)
    for name in ("id", "title", "updated"):
        count = len(element.findall(f"{_ATOM}{name}"))
        if count != 1:
            msg = f"{what} has {count or 'no'} {name}; Atom requires exactly one"
            raise InvalidInputError(msg)


def _rss(rss: Element) -> list[WeatherReport]:
    channels = rss.findall("channel")
    if len(channels) != 1:
        msg = f"RSS has {len(channels)} channels; it needs exactly one"
        raise InvalidInputError(msg)
    for name in ("title", "link", "description"):
        if channels[0].find(name) is None:
            msg = f"RSS channel has no {name}"
            raise InvalidInputError(msg)
    carriers = []
    for index, item in enumerate(channels[0].findall("item"), 1):
        if item.find("title") is None and item.find("description") is None:
            msg = f"item {index} has neither title nor description"
            raise InvalidInputError(msg)
        carriers.append(_Carrier(f"item {index}", _embedded(item), item.find("link") is not None))
    return _from_carriers(carriers, "RSS feed", "items")


def _edxl(distribution: Element) -> list[WeatherReport]:
    carriers = []
    for index, part in enumerate(distribution.findall(f"{_EDXL}contentObject"), 1):
        xml = part.find(f"{_EDXL}xmlContent")
        other = part.find(f"{_EDXL}nonXMLContent")
        if xml is None and other is None:
            msg = f"EDXL-DE contentObject {index} has no content (xmlContent or nonXMLContent)"
            raise InvalidInputError(msg)
        embedded = [] if xml is None else xml.findall(f"{_EDXL}embeddedXMLContent")
        alerts = [alert for holder in embedded for alert in _embedded(holder)]
        carriers.append(_Carrier(f"EDXL-DE contentObject {index}", alerts, other is not None))
    return _from_carriers(carriers, "EDXL-DE envelope", "contentObjects")


@dataclass(frozen=True)
class _Cap:
    """Reads one alert's elements in its own namespace, with its version's time rules."""

    ns: str
    version: str

    @classmethod
    def of(cls, alert: Element) -> _Cap:
        ns = alert.tag[1:].partition("}")[0]
        return cls(ns, _CAP_VERSIONS[ns])

    def all(self, parent: Element, name: str) -> list[Element]:
        return parent.findall(f"{{{self.ns}}}{name}")

    def text(self, parent: Element, name: str) -> str:
        found = parent.find(f"{{{self.ns}}}{name}")
        return "" if found is None else _text(found)

    def required(self, parent: Element, name: str) -> str:
        """Return the text of an element CAP requires exactly once, refusing absent or empty."""
        found = self.all(parent, name)
        if not found:
            msg = f"missing required element {name}"
            raise InvalidInputError(msg)
        if len(found) > 1:
            msg = f"{name} appears {len(found)} times; CAP allows one"
            raise InvalidInputError(msg)
        if not (text := _text(found[0])):
            msg = f"{name} is empty"
            raise InvalidInputError(msg)
        return text

    def choice(self, parent: Element, name: str, allowed: Iterable[str]) -> str:
        return _one_of(self.required(parent, name), name, allowed)

    def time(self, text: str, name: str) -> datetime:
        """Parse a CAP time: strict for 1.2, ``xs:dateTime`` with a zone for 1.1."""
        pattern = _STRICT_TIME if self.version == "1.2" else _LENIENT_TIME
        form = "YYYY-MM-DDThh:mm:ss±hh:mm" if self.version == "1.2" else "a zoned xs:dateTime"
        if not pattern.fullmatch(text):
            msg = f"{name} {_show(text)} is not CAP {self.version} time ({form})"
            raise InvalidInputError(msg)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            msg = f"{name} {_show(text)} is not a real date and time"
            raise InvalidInputError(msg) from None


class _Header(NamedTuple):
    identifier: str
    sender: str
    sent: datetime
    mode: str
    msg_type: str


class _Info(NamedTuple):
    language: str
    headline: str
    item: WarningItem


def _alert(alert: Element) -> WeatherReport:
    """Turn one CAP ``<alert>`` into a report (Signature and unknown elements are ignored)."""
    cap = _Cap.of(alert)
    head = _header(alert, cap)
    references = _references(alert, cap)
    infos = [
        _within(f"info {index}", _info, info, cap, head.msg_type)
        for index, info in enumerate(cap.all(alert, "info"), 1)
    ]
    lead = next((info for info in infos if _is_japanese(info.language)), None)
    lead = lead or (infos[0] if infos else None)
    own_id = _report_id(head.sender, head.identifier)
    first = min(references, key=lambda ref: ref[2], default=None)
    return WeatherReport(
        id=own_id,
        source="cap",
        series=own_id if first is None else _report_id(first[0], first[1]),
        title=lead.item.kind_name if lead else f"{head.msg_type} from {head.sender}",
        info_type=_INFO_TYPES[head.msg_type],
        mode=head.mode,
        reported_at=head.sent,
        headline=lead.headline if lead else "",
        items=[info.item for info in infos],
        references=[_report_id(sender, identifier) for sender, identifier, _ in references],
    )


def _header(alert: Element, cap: _Cap) -> _Header:
    """Check the alert's required elements, in schema order so the first fault is named."""
    identifier = _token(cap.required(alert, "identifier"), "identifier")
    sender = _token(cap.required(alert, "sender"), "sender")
    sent = cap.time(cap.required(alert, "sent"), "sent")
    mode = _MODES[cap.choice(alert, "status", _MODES)]
    msg_type = cap.choice(alert, "msgType", (*_INFO_TYPES, *_NOT_INGESTED))
    cap.choice(alert, "scope", _SCOPES)
    if msg_type in _NOT_INGESTED:
        msg = f"msgType {msg_type} is not ingested: only Alert, Update and Cancel are"
        raise InvalidInputError(msg)
    return _Header(identifier, sender, sent, mode, msg_type)


def _references(alert: Element, cap: _Cap) -> list[tuple[str, str, datetime]]:
    """Return the ``sender,identifier,sent`` triples, in the order written."""
    if not cap.all(alert, "references"):
        return []
    triples = []
    for triple in cap.required(alert, "references").split():
        parts = triple.split(",")
        if len(parts) != 3 or not all(parts):
            msg = f"reference {_show(triple)} is not sender,identifier,sent"
            raise InvalidInputError(msg)
        triples.append((parts[0], parts[1], cap.time(parts[2], "reference sent")))
    return triples


def _info(info: Element, cap: _Cap, msg_type: str) -> _Info:
    event = cap.required(info, "event")
    _check_info(info, cap)
    language = cap.text(info, "language") or "en-US"
    areas = [
        _within(f"area {index}", _area, area, cap)
        for index, area in enumerate(cap.all(info, "area"), 1)
    ]
    codes = filter(None, (cap.text(code, "value") for code in cap.all(info, "eventCode")))
    item = WarningItem(
        kind_name=event,
        kind_code=next(codes, None),
        status=msg_type,
        areas=areas,
        alert_level=_alert_level(info, cap, language),
    )
    return _Info(language, cap.text(info, "headline"), item)


def _check_info(info: Element, cap: _Cap) -> None:
    """Refuse values outside CAP's enumerations, and malformed times, in an ``<info>``."""
    categories = cap.all(info, "category")
    if not categories:
        msg = "missing required element category"
        raise InvalidInputError(msg)
    for element in categories:
        _one_of(_text(element), "category", _CATEGORIES)
    for element in cap.all(info, "responseType"):
        _one_of(_text(element), "responseType", _RESPONSE_TYPES)
    cap.choice(info, "urgency", _URGENCIES)
    cap.choice(info, "severity", _SEVERITIES)
    cap.choice(info, "certainty", _CERTAINTIES)
    for name in _INFO_TIMES:
        for element in cap.all(info, name):
            cap.time(_text(element), name)


def _alert_level(info: Element, cap: _Cap, language: str) -> AlertLevel | None:
    """Return the 警戒レベル the info states explicitly, else None (never guessed)."""
    japanese = _is_japanese(language)
    levels = []
    for parameter in cap.all(info, "parameter"):
        name = _squash(cap.text(parameter, "valueName")).rpartition(":")[2]
        if name in _JP_LEVEL_NAMES or (japanese and name == _GENERIC_LEVEL_NAME):
            value = unicodedata.normalize("NFKC", cap.text(parameter, "value")).strip()
            if matched := _LEVEL_VALUE.fullmatch(value):
                levels.append(AlertLevel(int(matched.group(1))))
    return max(levels, default=None)


def _area(area: Element, cap: _Cap) -> ReportArea:
    description = cap.required(area, "areaDesc")
    if cap.all(area, "ceiling") and not cap.all(area, "altitude"):
        msg = "ceiling needs altitude"
        raise InvalidInputError(msg)
    polygons = [
        _within(f"polygon {index}", _polygon, _text(polygon))
        for index, polygon in enumerate(cap.all(area, "polygon"), 1)
    ]
    circles = [_within("circle", _circle, _text(circle)) for circle in cap.all(area, "circle")]
    geocodes = [
        Geocode(name=cap.required(code, "valueName"), value=cap.required(code, "value"))
        for code in cap.all(area, "geocode")
    ]
    return ReportArea(
        description=description, polygons=polygons, circles=circles, geocodes=geocodes
    )


def _polygon(text: str) -> PolygonArea:
    """Convert CAP's ``lat,lon lat,lon ...`` into a GeoJSON ring of (lon, lat), unrounded."""
    points = [_point(pair) for pair in text.split()]
    if len(points) < 4:
        msg = f"has {len(points)} points; CAP needs at least 4"
        raise InvalidInputError(msg)
    if points[0] != points[-1]:
        msg = "is not closed: its first point differs from its last"
        raise InvalidInputError(msg)
    return PolygonArea(coordinates=[[(point.lon, point.lat) for point in points]])


def _circle(text: str) -> Circle:
    parts = text.split()
    if len(parts) != 2 or not _NUMBER_RE.fullmatch(parts[1]):
        msg = f"{_show(text)} is not 'lat,lon radius_km'"
        raise InvalidInputError(msg)
    return Circle(center=_point(parts[0]), radius_km=float(parts[1]))


def _point(pair: str) -> GeoPoint:
    """Read one CAP ``lat,lon`` pair (latitude first) as decimal degrees."""
    matched = _LAT_LON.fullmatch(pair)
    if matched is None:
        msg = f"{_show(pair)} is not a 'lat,lon' pair of decimal degrees"
        raise InvalidInputError(msg)
    return GeoPoint(lat=float(matched.group(1)), lon=float(matched.group(2)))


def _within(label: str, parse: Callable[..., _T], *args: Any) -> _T:
    """Run ``parse``, prefixing a rejection with where it happened ("entry 2: info 1: ...").

    A record's own validation (a self-intersecting polygon, an over-long id) becomes a
    rejection here too, so records are built plainly wherever the values are at hand.
    """
    try:
        return parse(*args)
    except InvalidInputError as exc:
        reason = exc.reason
    except ValidationError as exc:
        reason = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
            for err in exc.errors()
        )
    except ShapelyError as exc:
        reason = str(exc)
    msg = f"{label}: {reason}" if label else reason
    raise InvalidInputError(msg)


def _one_of(value: str, name: str, allowed: Iterable[str]) -> str:
    choices = tuple(allowed)
    if value not in choices:
        msg = f"{name} {_show(value)} is not one of {', '.join(choices)}"
        raise InvalidInputError(msg)
    return value


def _token(value: str, name: str) -> str:
    if _BAD_TOKEN.search(value):
        msg = f"{name} {_show(value)} contains a space, comma, < or &"
        raise InvalidInputError(msg)
    return value


def _report_id(sender: str, identifier: str) -> str:
    return f"cap:{sender}:{identifier}"


def _text(element: Element) -> str:
    return (element.text or "").strip()


def _is_japanese(language: str) -> bool:
    return language.lower().partition("-")[0] == "ja"


def _squash(name: str) -> str:
    """Fold a parameter name so 警戒レベル, JP_ALERT_LEVEL and "Alert Level" compare simply."""
    return re.sub(r"[\s_-]", "", unicodedata.normalize("NFKC", name).casefold())


def _show(text: str) -> str:
    """Quote untrusted text for a reason, cut short so a DLQ record stays readable."""
    cut = text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"
    return repr(cut)
