"""Parsing JMA disaster-prevention XML (気象庁防災情報XML) into a :class:`WeatherReport`.

Pure: bytes in, a report out, or :class:`InvalidInputError` with the reason that goes to the
DLQ. Items come from ``Head/Headline/Information`` (JMA's own summary, grouped the way operators
read it); each area's status (発表/継続/解除/…) comes from the Body, because the Headline
schema has no Status. Telegrams whose Headline lists nothing (some earthquake and tsunami
telegrams) fall back to the clear parts of the Body. Levels come from a data file, since JMA
and the Cabinet Office rename warnings more often than we release.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any
from xml.etree.ElementTree import Element

from pydantic import ValidationError

from disaster.domain import AlertLevel, InvalidInputError
from disaster.domain.weather import InfoType, Mode, ReportArea, WarningItem, WeatherReport
from ingest._xml import parse_xml

__all__ = ["JmaLevelMap", "load_level_map", "parse_jma"]

JMX_NS = "http://xml.kishou.go.jp/jmaxml1/"
IB_NS = "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"
#: JMA writes Head times with +09:00; the schema's xs:dateTime may omit it, and JMA means JST.
JST = timezone(timedelta(hours=9), "JST")
_LEVELS_FILE = "jma_levels.json"

_MODES: dict[str, Mode] = {"通常": "actual", "訓練": "exercise", "試験": "test"}
_INFO_TYPES: dict[str, InfoType] = {
    "発表": "issue",
    "訂正": "correction",
    "取消": "cancel",
    "遅延": "issue",
}
#: Statuses saying nothing is in force, so no resident level applies.
_NO_LEVEL_STATUSES = frozenset({"解除", "なし", "発表警報・注意報はなし", "取消"})
#: Kind names that grade the kind their Information type names (VXWW50 警戒, VPWW 解除).
_GRADE_NAMES = frozenset({"警戒", "解除", "なし"})
_LIFTED = "解除"
_SUFFIX = re.compile(r"（[^（）]*）$")

# A group of areas under one kind: (kind name, kind code, status or None for the InfoType).
_Key = tuple[str, str | None, str | None]
# What the Body says per area code: (kind name, kind code, status) entries.
_BodyIndex = dict[str, list[tuple[str, str, str]]]


@dataclass(frozen=True)
class JmaLevelMap:
    """Which 警戒レベル each JMA kind name calls for; names not listed call for none."""

    levels: Mapping[str, AlertLevel] = field(default_factory=dict)
    version: int = 1
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", MappingProxyType(dict(self.levels)))

    def level_for(self, kind_name: str) -> AlertLevel | None:
        """Return the level for a kind name as JMA writes it, or None if it has none."""
        return self.levels.get(kind_name)


def load_level_map(path: Path | None = None) -> JmaLevelMap:
    """Read the kind→level JSON (default: the packaged one), raising ValueError if malformed."""
    if path is None:
        raw = resources.files("ingest.data").joinpath(_LEVELS_FILE).read_bytes()
        where = f"ingest/data/{_LEVELS_FILE}"
    else:
        raw, where = path.read_bytes(), str(path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        msg = f"{where}: not UTF-8 JSON ({exc})"
        raise ValueError(msg) from None
    return _level_map_from(data, where)


def _level_map_from(data: Any, where: str) -> JmaLevelMap:
    """Check the map's shape so a typo fails at start-up, not as a missing level at night."""
    if not isinstance(data, dict):
        msg = f"{where}: expected a JSON object with 'version' and 'levels'"
        raise ValueError(msg)
    if data.get("version") != 1 or isinstance(data.get("version"), bool):
        msg = f"{where}: unsupported version {data.get('version')!r} (expected 1)"
        raise ValueError(msg)
    levels, source = data.get("levels"), data.get("source", "")
    if not isinstance(levels, dict) or not isinstance(source, str):
        msg = f"{where}: 'levels' must be an object of kind name → level, 'source' a string"
        raise ValueError(msg)
    return JmaLevelMap({_name(k, where): _level(v, k, where) for k, v in levels.items()}, 1, source)


def _name(name: str, where: str) -> str:
    if not name.strip():
        msg = f"{where}: a kind name is empty"
        raise ValueError(msg)
    return name.strip()


def _level(value: Any, name: str, where: str) -> AlertLevel:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        msg = f"{where}: level of {name!r} is {value!r}, not an integer 1–5"
        raise ValueError(msg)
    return AlertLevel(value)


@cache
def _default_level_map() -> JmaLevelMap:
    return load_level_map()


def parse_jma(raw: bytes, levels: JmaLevelMap | None = None) -> WeatherReport:
    """Parse one JMA telegram; anything that is not a JMA Report raises InvalidInputError."""
    root = _parse_root(raw)
    control = _section(root, JMX_NS, "Control")
    head = _section(root, IB_NS, "Head")
    level_map = levels if levels is not None else _default_level_map()
    try:
        return _report(root, control, head, level_map)
    except ValidationError as exc:
        reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        msg = f"JMA report does not fit the model: {reason}"
        raise InvalidInputError(msg) from None


def _parse_root(raw: bytes) -> Element:
    """Parse safely (see :func:`parse_xml`) and check this is a JMA Report."""
    if not isinstance(raw, bytes | bytearray):
        msg = f"expected bytes, got {type(raw).__name__}"
        raise InvalidInputError(msg)
    root = parse_xml(bytes(raw))
    if root.tag != f"{{{JMX_NS}}}Report":
        msg = f"root element is {root.tag!r}, not a JMA Report in namespace {JMX_NS}"
        raise InvalidInputError(msg)
    return root


def _section(root: Element, namespace: str, name: str) -> Element:
    found = root.find(f"{{{namespace}}}{name}")
    if found is None:
        msg = f"JMA Report has no {name} (namespace {namespace})"
        raise InvalidInputError(msg)
    return found


def _report(root: Element, control: Element, head: Element, levels: JmaLevelMap) -> WeatherReport:
    status = _required(control, "Control", "Status")
    if status not in _MODES:
        msg = f"unknown Control/Status {status!r} (expected 通常, 訓練 or 試験)"
        raise InvalidInputError(msg)
    info_type = _required(head, "Head", "InfoType")
    if info_type not in _INFO_TYPES:
        msg = f"unknown Head/InfoType {info_type!r} (expected 発表, 訂正, 取消 or 遅延)"
        raise InvalidInputError(msg)
    sent = _required(control, "Control", "DateTime")
    _datetime(sent, "Control/DateTime")
    parts = [
        _required(control, "Control", "Title"),
        _required(control, "Control", "EditorialOffice"),
    ]
    series = "jma:" + "|".join([*parts, status, _text(head, "EventID")])
    body = next((child for child in root if _local(child.tag) == "Body"), None)
    return WeatherReport(
        id=f"{series}|{sent}|{_text(head, 'Serial')}",
        source="jma",
        series=series,
        title=_required(head, "Head", "Title"),
        info_type=_INFO_TYPES[info_type],
        mode=_MODES[status],
        reported_at=_datetime(_required(head, "Head", "ReportDateTime"), "Head/ReportDateTime"),
        headline=_text(head, "Headline", "Text"),
        items=_items(head, body, info_type, levels),
    )


def _required(parent: Element, where: str, name: str) -> str:
    value = _text(parent, name)
    if not value:
        msg = f"JMA Report has no {where}/{name}"
        raise InvalidInputError(msg)
    return value


def _datetime(text: str, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        msg = f"{where} {text[:40]!r} is not an ISO 8601 date-time"
        raise InvalidInputError(msg) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=JST)


# --- items -------------------------------------------------------------------------------------


def _items(
    head: Element, body: Element | None, info_type: str, levels: JmaLevelMap
) -> list[WarningItem]:
    """Headline items (with Body statuses), else what the Body says plainly."""
    index = _body_index(body)
    groups = _headline_groups(head, index) or _body_groups(head, body)
    items, seen = [], set()
    for key, areas in groups:
        item = _item(key, areas, info_type, levels)
        signature = (key, tuple((a.description, a.code) for a in item.areas))
        if signature not in seen:  # 警報注意報種別毎 repeats the prefecture-wide items
            seen.add(signature)
            items.append(item)
    return items


def _item(key: _Key, areas: list[ReportArea], info_type: str, levels: JmaLevelMap) -> WarningItem:
    """A 取消 voids the telegram, so its items say 取消 whatever the Body said."""
    name, code, status = key
    status = "取消" if info_type == "取消" else status or info_type
    level = None if status in _NO_LEVEL_STATUSES else levels.level_for(name)
    return WarningItem(
        kind_name=name, kind_code=code, status=status, areas=_unique(areas), alert_level=level
    )


def _headline_groups(head: Element, index: _BodyIndex) -> list[tuple[_Key, list[ReportArea]]]:
    """Group each Information's areas by kind and status; granularities stay apart."""
    result: list[tuple[_Key, list[ReportArea]]] = []
    for info in _all(head, "Headline", "Information"):
        base = _SUFFIX.sub("", info.get("type", "")).strip()
        groups: dict[_Key, list[ReportArea]] = {}
        for item in _kids(info, "Item"):
            areas = _areas(_all(item, "Areas", "Area"))
            for key, area in _item_pairs(_kids(item, "Kind"), areas, base, index):
                groups.setdefault(key, []).append(area)
        result.extend(groups.items())
    return result


def _item_pairs(
    kinds: list[Element], areas: list[ReportArea], base: str, index: _BodyIndex
) -> Iterator[tuple[_Key, ReportArea]]:
    """Yield (kind, area) pairs, plus the kinds the Body says were lifted in these areas.

    The Headline omits a lifted kind (or writes only 解除), yet 大雨特別警報 解除 is what
    an operator has to act on.
    """
    named = [kind for kind in kinds if _text(kind, "Name") != _LIFTED]
    codes = {_text(kind, "Code") for kind in named}
    lifted = list(_lifted(areas, codes, index))
    for kind in named if lifted else kinds:
        name, code = _text(kind, "Name"), _text(kind, "Code") or None
        shown = base if name in _GRADE_NAMES and base else name
        for area in areas:
            status = _area_status(index, area, name, code) or _name_status(name)
            yield (shown, code, status), area
    yield from lifted


def _lifted(
    areas: list[ReportArea], codes: set[str], index: _BodyIndex
) -> Iterator[tuple[_Key, ReportArea]]:
    for area in areas:
        for name, code, status in index.get(area.code or "", ()):
            if status == _LIFTED and code not in codes and name not in _GRADE_NAMES:
                yield (name, code or None, status), area


def _area_status(index: _BodyIndex, area: ReportArea, name: str, code: str | None) -> str | None:
    for b_name, b_code, b_status in index.get(area.code or "", ()):
        if (code and b_code == code) or b_name == name:
            return b_status
    return None


def _name_status(name: str) -> str | None:
    """津波注意報解除 and the Headline's bare 解除 say their status in their name."""
    if name.endswith(_LIFTED):
        return _LIFTED
    return "なし" if name == "なし" else None


def _body_index(body: Element | None) -> _BodyIndex:
    """Map area code → the Body's (kind, code, status) entries, from Warning/Item elements."""
    index: _BodyIndex = {}
    for item in _all(body, "Warning", "Item") if body is not None else ():
        codes = [_text(a, "Code") for a in [*_kids(item, "Area"), *_all(item, "Areas", "Area")]]
        for kind in _kids(item, "Kind"):
            entry = (_text(kind, "Name"), _text(kind, "Code"), _text(kind, "Status"))
            if entry[2]:
                for code in filter(None, codes):
                    index.setdefault(code, []).append(entry)
    return index


# --- Body fallbacks ----------------------------------------------------------------------------


def _body_groups(head: Element, body: Element | None) -> list[tuple[_Key, list[ReportArea]]]:
    """When the Headline lists nothing: tsunami forecasts, named warnings, or the quake."""
    if body is None:
        return []
    return _tsunami_groups(body) or _warning_groups(body) or _quake_groups(head, body)


def _tsunami_groups(body: Element) -> list[tuple[_Key, list[ReportArea]]]:
    groups: dict[_Key, list[ReportArea]] = {}
    for item in _all(body, "Tsunami", "Forecast", "Item"):
        kind = _first(item, "Category", "Kind")
        name = _text(kind, "Name") if kind is not None else ""
        if name and kind is not None:
            key = (name, _text(kind, "Code") or None, _name_status(name))
            groups.setdefault(key, []).extend(_areas(_kids(item, "Area")))
    return list(groups.items())


def _warning_groups(body: Element) -> list[tuple[_Key, list[ReportArea]]]:
    groups: dict[_Key, list[ReportArea]] = {}
    for item in _all(body, "Warning", "Item"):
        areas = _areas([*_kids(item, "Area"), *_all(item, "Areas", "Area")])
        for kind in _kids(item, "Kind"):
            name = _text(kind, "Name")
            if name and name not in _GRADE_NAMES:
                key = (name, _text(kind, "Code") or None, _text(kind, "Status") or None)
                groups.setdefault(key, []).extend(areas)
    return list(groups.items())


def _quake_groups(head: Element, body: Element) -> list[tuple[_Key, list[ReportArea]]]:
    """One item named by the Head title: intensity areas, else the epicentre."""
    if _first(body, "Earthquake") is None and _first(body, "Intensity") is None:
        return []
    observed = _all(body, "Intensity", "Observation", "Pref", "Area")
    forecast = _all(body, "Intensity", "Forecast", "Pref", "Area")
    epicentre = _all(body, "Earthquake", "Hypocenter", "Area")
    areas = _areas(observed or forecast or epicentre)
    return [((_text(head, "Title"), None, None), areas)]


# --- element helpers ---------------------------------------------------------------------------


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _kids(parent: Element, name: str) -> list[Element]:
    """Children by local name: Body namespaces differ per telegram type, names do not."""
    return [child for child in parent if _local(child.tag) == name]


def _all(parent: Element, *path: str) -> list[Element]:
    found = [parent]
    for name in path:
        found = [child for element in found for child in _kids(element, name)]
    return found


def _first(parent: Element, *path: str) -> Element | None:
    found = _all(parent, *path)
    return found[0] if found else None


def _text(parent: Element, *path: str) -> str:
    element = _first(parent, *path)
    return (element.text or "").strip() if element is not None else ""


def _areas(elements: Iterable[Element]) -> list[ReportArea]:
    areas = [(_text(e, "Name"), _text(e, "Code")) for e in elements]
    return [ReportArea(description=n, code=c or None) for n, c in areas if n or c]


def _unique(areas: list[ReportArea]) -> list[ReportArea]:
    seen: set[tuple[str, str | None]] = set()
    kept = []
    for area in areas:
        if (area.description, area.code) not in seen:
            seen.add((area.description, area.code))
            kept.append(area)
    return kept
