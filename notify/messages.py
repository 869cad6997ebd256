"""What residents read: lock-screen messages for plain alerts and push patterns C, D and E.

A message has a title and a body short enough for a lock screen, and a full text shown on
open. The level and hazard must be clear before anyone reads a word, so every message carries
the guideline colour of its 警戒レベル and every title starts with the level mark (after a
drill mark, which must never be missed).

Decisions:

* Texts live in JSON catalogues, one file per language (``catalogue/<language>.json``), so a
  new language is a new file. The file name is the language code; ``language_tag`` is its
  BCP 47 tag for CAP and the browser. A key a language lacks is taken from Japanese, the
  municipality's own language, so a half-translated file still sends a complete message.
* An unknown language falls back to Japanese too: a resident registered in a language the
  city dropped still gets the alert, in the language every official notice is written in.
* Templates are checked when loaded, not when a river rises: every placeholder must be one the
  key knows, and every title and body must fit its bound with one-character names.
* Lengths are Python characters. Only names (area, shelter, place, building, headline) are
  shortened, with an ellipsis, longest first, so the level, hazard, numbers and the action
  are never cut. A template too long to fit even so (only from a catalogue built by hand) is
  cut at the end, which keeps the level mark at the start of the title.
* Times are shown in JST: every resident is in Japan, and Japan has no daylight saving.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Final, Literal

__all__ = [
    "BODY_MAX_CHARS",
    "FALLBACK_LANGUAGE",
    "HAZARDS",
    "INCIDENT_KINDS",
    "JST",
    "LEVEL_COLOURS",
    "MESSAGE_KEYS",
    "NO_LEVEL_COLOUR",
    "NO_ROUTE_REASONS",
    "PROFILES",
    "PUSH_PAYLOAD_MAX_BYTES",
    "TITLE_MAX_CHARS",
    "AlertFacts",
    "BuildingFacts",
    "Catalogue",
    "CatalogueError",
    "IncidentFacts",
    "Message",
    "NoRouteFacts",
    "RouteFacts",
    "compose_alert",
    "compose_pattern_c",
    "compose_pattern_d",
    "compose_pattern_e",
    "load_catalogue",
]

FALLBACK_LANGUAGE: Final = "ja"
BODY_MAX_CHARS: Final = 90
TITLE_MAX_CHARS: Final = 64
#: RFC 8291: a 4096-byte record less the 86-byte header, the 16-byte tag and the delimiter.
PUSH_PAYLOAD_MAX_BYTES: Final = 3993

#: Cabinet Office guideline colours, in the shades JMA uses on its risk maps (キキクル):
#: 5 黒 black, 4 紫 purple, 3 赤 red, 2 黄 yellow, 1 白 white.
LEVEL_COLOURS: Final[Mapping[int, str]] = {
    1: "#FFFFFF",
    2: "#F2E700",
    3: "#FF2800",
    4: "#AA00AA",
    5: "#0C000C",
}
#: An incident without a 警戒レベル gets grey, which no level uses, so it is never read as one.
NO_LEVEL_COLOUR: Final = "#808080"

HAZARDS: Final = ("flood", "landslide", "earthquake", "tsunami", "fire", "storm_surge", "other")
INCIDENT_KINDS: Final = (
    "fire", "collapse", "flooding", "landslide", "blocked_road", "people_trapped", "other"
)  # fmt: skip
PROFILES: Final = ("walk", "slow_walk", "wheelchair", "car")
NO_ROUTE_REASONS: Final = ("no_shelter", "shelters_full", "roads_blocked", "too_late")
JST: Final = timezone(timedelta(hours=9), "JST")

_CATALOGUE_DIR = Path(__file__).parent / "catalogue"
_ELLIPSIS = "…"
#: Names this short always show whole: the load-time check holds every catalogue to it.
_MIN_NAME_CHARS = 8
_BREAKS = frozenset(" 　、。,.・/／")

Pattern = Literal["C", "D", "E", "plain"]


class CatalogueError(ValueError):
    """A catalogue file that cannot be used; the message names the file, key and fault."""


# ---------------------------------------------------------------------------------------------
# Inputs


def _require_aware(moment: datetime, name: str) -> None:
    if moment.utcoffset() is None:
        msg = f"{name} must be timezone-aware: a naive time cannot be shown in JST"
        raise ValueError(msg)


def _require_finite(value: float, name: str) -> None:
    if not math.isfinite(value) or value < 0:
        msg = f"{name} must be a finite number >= 0, not {value!r}"
        raise ValueError(msg)


@dataclass(frozen=True)
class AlertFacts:
    """What an alert says, independent of the language it is told in."""

    level: int
    hazard: str
    area_name: str
    headline: Mapping[str, str] | None
    issued_at: datetime
    exercise: bool = False

    def __post_init__(self) -> None:
        if self.level not in LEVEL_COLOURS:
            msg = f"level must be 1..5 (警戒レベル), not {self.level!r}"
            raise ValueError(msg)
        if self.hazard not in HAZARDS:
            msg = f"hazard {self.hazard!r} is not one of {', '.join(HAZARDS)}"
            raise ValueError(msg)
        _require_aware(self.issued_at, "issued_at")


@dataclass(frozen=True)
class RouteFacts:
    """The resident's own way to a shelter; ``profile`` is walk, slow_walk, wheelchair or car.

    ``building`` is the water expected at the building they are in, when the city model knows
    it: the full text then says how deep and which floor to go up to should they not get away
    in time (the lock-screen body keeps to the route).
    """

    shelter_name: str
    distance_m: float
    minutes: float
    map_url: str
    profile: str = "walk"
    building: BuildingFacts | None = None

    def __post_init__(self) -> None:
        _require_finite(self.distance_m, "distance_m")
        _require_finite(self.minutes, "minutes")


@dataclass(frozen=True)
class NoRouteFacts:
    """No shelter can be reached in time: vertical evacuation instead.

    ``reason`` is one of :data:`NO_ROUTE_REASONS` (told in the resident's language) or free
    text (shown as written, in the full text only).
    """

    reason: str
    refuge_name: str | None = None
    safe_floor: int | None = None


@dataclass(frozen=True)
class IncidentFacts:
    """Something that happened near the resident (pattern D)."""

    kind: str
    place: str
    distance_m: float
    avoid: str | None
    reported_at: datetime

    def __post_init__(self) -> None:
        if self.kind not in INCIDENT_KINDS:
            msg = f"incident kind {self.kind!r} is not one of {', '.join(INCIDENT_KINDS)}"
            raise ValueError(msg)
        _require_finite(self.distance_m, "distance_m")
        _require_aware(self.reported_at, "reported_at")


@dataclass(frozen=True)
class BuildingFacts:
    """Expected flood depth at the resident's building and the lowest floor above it."""

    depth_m: float
    safe_floor: int
    building_name: str | None = None

    def __post_init__(self) -> None:
        _require_finite(self.depth_m, "depth_m")
        if self.safe_floor < 1:
            msg = f"safe_floor must be 1 or more, not {self.safe_floor!r}"
            raise ValueError(msg)


# ---------------------------------------------------------------------------------------------
# Output


@dataclass(frozen=True)
class Message:
    """One resident-facing message in one language.

    ``event`` is a short name of what is announced (for CAP ``event`` and UI badges) and
    ``instruction`` the full recommended action (CAP ``instruction``); ``url`` opens on tap.
    ``level`` is None only for an incident sent without a 警戒レベル.
    """

    language: str
    title: str
    body: str
    full_text: str
    level: int | None
    colour: str
    hazard: str
    pattern: Pattern
    exercise: bool
    language_tag: str = ""
    event: str = ""
    instruction: str = ""
    url: str | None = None

    def to_push_payload(self, extra: Mapping[str, object] | None = None) -> bytes:
        """Return compact UTF-8 JSON that fits one RFC 8291 record, trimming the full text.

        Title and body are never trimmed: the full text is there in the app anyway. ``extra``
        adds fields such as the notification ``tag`` (the alert id, so a resend replaces the
        notification instead of adding one); it may not replace the message's own fields.
        """
        fields: dict[str, object] = {
            "language": self.language_tag or self.language,
            "title": self.title,
            "body": self.body,
            "full_text": self.full_text,
            "level": self.level,
            "colour": self.colour,
            "hazard": self.hazard,
            "pattern": self.pattern,
            "exercise": self.exercise,
            "url": self.url,
        }
        if clash := sorted(fields.keys() & (extra or {}).keys()):
            msg = f"extra fields may not replace the message's own: {', '.join(clash)}"
            raise ValueError(msg)
        fields |= extra or {}
        payload = _dump(fields)
        if len(payload) > PUSH_PAYLOAD_MAX_BYTES:
            payload = _dump(fields | {"full_text": _trim_to_fit(fields, self.full_text)})
        if len(payload) > PUSH_PAYLOAD_MAX_BYTES:
            msg = f"push payload is {len(payload)} bytes even without the full text"
            raise ValueError(msg)
        return payload


def _dump(fields: Mapping[str, object]) -> bytes:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()


def _trim_to_fit(fields: dict[str, object], text: str) -> str:
    """Return the longest prefix of ``text`` (plus an ellipsis) that keeps the payload in bounds."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        candidate = fields | {"full_text": text[:middle] + _ELLIPSIS}
        if len(_dump(candidate)) <= PUSH_PAYLOAD_MAX_BYTES:
            low = middle
        else:
            high = middle - 1
    return text[:low] + _ELLIPSIS if low else ""


# ---------------------------------------------------------------------------------------------
# Catalogue


def _schema() -> dict[str, frozenset[str]]:
    """Every message key and the placeholders its template may use."""
    keys: dict[str, set[str]] = {
        "mark.level": {"level"},
        "mark.exercise": set(),
        "mark.incident": set(),
        "exercise.notice": set(),
        "building.home": set(),
        "time": {"year", "month", "day", "hour", "minute"},
        "event": {"level_name", "hazard"},
        "title.alert": {"mark", "level_name", "hazard", "hazard_risk", "area"},
        "title.incident": {"mark", "kind", "place"},
        "body.alert": {"area", "level", "level_name", "hazard", "action"},
        "body.alert_headline": {"headline", "action"},
        "body.route": {"action", "shelter", "distance", "minutes", "profile"},
        "body.noroute_refuge": {"refuge", "floor"},
        "body.noroute_building": {"refuge"},
        "body.noroute_floor": {"floor"},
        "body.noroute": set(),
        "body.incident": {"kind", "place", "distance"},
        "body.incident_avoid": {"kind", "place", "distance", "avoid"},
        "body.building": {"building", "depth", "floor"},
        "body.building_dry": {"building"},
        "full.alert": {"time", "area", "level", "level_name", "hazard", "action"},
        "full.route": {"shelter", "distance", "minutes", "profile", "map_url"},
        "full.route_depth": {"building", "depth", "floor"},
        "full.noroute": {"reason"},
        "full.incident": {"time", "kind", "place", "distance", "advice"},
        "full.incident_avoid": {"avoid"},
        "full.building": {"building", "depth", "floor"},
    }
    for level in LEVEL_COLOURS:
        keys |= {f"level.{level}": set(), f"action.{level}": set(), f"action_long.{level}": set()}
    for hazard in HAZARDS:
        keys |= {f"hazard.{hazard}": set(), f"hazard_risk.{hazard}": set()}
    for kind in INCIDENT_KINDS:
        keys |= {f"incident.{kind}": set(), f"incident_advice.{kind}": set()}
    keys |= {f"profile.{name}": set() for name in (*PROFILES, "other")}
    keys |= {f"noroute.reason.{reason}": set() for reason in NO_ROUTE_REASONS}
    for unit in ("metres", "kilometres", "minutes", "depth", "floor"):
        keys[f"unit.{unit}"] = {"value"}
    return {key: frozenset(names) for key, names in keys.items()}


#: The message keys and their placeholders: the contract every catalogue file is held to.
MESSAGE_KEYS: Final[Mapping[str, frozenset[str]]] = _schema()


class _Values(dict[str, str]):
    """Placeholder values for ``str.format_map`` that name an unknown placeholder clearly."""

    def __missing__(self, key: str) -> str:
        known = ", ".join(sorted(self)) or "none"
        msg = f"unknown placeholder {{{key}}} (known here: {known})"
        raise CatalogueError(msg)


def _format(template: str, values: Mapping[str, str]) -> str:
    return template.format_map(_Values(values))


@dataclass(frozen=True)
class Catalogue:
    """Message templates per language; build it with :func:`load_catalogue` to get it checked."""

    templates: Mapping[str, Mapping[str, str]]
    language_tags: Mapping[str, str]

    @property
    def languages(self) -> tuple[str, ...]:
        """Return the languages this catalogue has, Japanese first."""
        return tuple(sorted(self.templates, key=lambda code: (code != FALLBACK_LANGUAGE, code)))

    def resolve(self, language: str) -> str:
        """Return the catalogue language for a requested one: exact, by tag, by primary subtag.

        "EN", "en-US" and "en-GB" give "en"; "ja-JP" gives "ja"; anything unknown gives "ja".
        """
        folded = language.strip().lower()
        for code in self.templates:
            if folded in (code.lower(), self.language_tag(code).lower()):
                return code
        primary = folded.partition("-")[0]
        return primary if primary in self.templates else FALLBACK_LANGUAGE

    def template(self, language: str, key: str) -> str:
        """Return a template, from Japanese when ``language`` lacks the key."""
        own = self.templates.get(language, {})
        return own[key] if key in own else self.templates[FALLBACK_LANGUAGE][key]

    def missing_keys(self, language: str) -> frozenset[str]:
        """Return the keys ``language`` takes from Japanese."""
        base = self.templates[FALLBACK_LANGUAGE]
        return frozenset(base) - frozenset(self.templates.get(language, {}))

    def language_tag(self, language: str) -> str:
        """Return the BCP 47 tag of a catalogue language (for CAP and the browser)."""
        return self.language_tags.get(language, language)


def load_catalogue(dirpath: str | Path | None = None) -> Catalogue:
    """Read every ``<language>.json`` in ``dirpath`` (default: the packaged catalogue).

    Raises :class:`CatalogueError` naming the file and key of the first fault: a missing
    ``ja.json``, a missing Japanese key, an unknown key or placeholder, or a title or body that
    cannot fit its bound.
    """
    directory = Path(dirpath) if dirpath is not None else _CATALOGUE_DIR
    templates: dict[str, dict[str, str]] = {}
    tags: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        templates[path.stem], tags[path.stem] = _read_file(path)
    if FALLBACK_LANGUAGE not in templates:
        msg = f"{directory}: no {FALLBACK_LANGUAGE}.json, which every other language falls back to"
        raise CatalogueError(msg)
    missing = sorted(frozenset(MESSAGE_KEYS) - frozenset(templates[FALLBACK_LANGUAGE]))
    if missing:
        msg = f"{FALLBACK_LANGUAGE}.json lacks keys {', '.join(missing)}"
        raise CatalogueError(msg)
    catalogue = Catalogue(templates=templates, language_tags=tags)
    for language in catalogue.languages:
        _check_fits(catalogue, language)
    return catalogue


def _read_file(path: Path) -> tuple[dict[str, str], str]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path.name}: cannot be read as UTF-8 JSON: {exc}"
        raise CatalogueError(msg) from exc
    messages = document.get("messages") if isinstance(document, dict) else None
    if not isinstance(messages, dict):
        msg = f"{path.name}: needs an object with a 'messages' object"
        raise CatalogueError(msg)
    tag = document.get("language_tag", path.stem)
    if not isinstance(tag, str) or not _is_language_tag(tag):
        msg = f"{path.name}: language_tag {tag!r} is not an xs:language tag such as ja-JP"
        raise CatalogueError(msg)
    for key, template in messages.items():
        try:
            _check_template(key, template)
        except CatalogueError as exc:
            msg = f"{path.name}: {key}: {exc}"
            raise CatalogueError(msg) from None
    return messages, tag


def _is_language_tag(tag: str) -> bool:
    """Match xs:language, ``[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*``, as CAP's schema requires."""
    first, *rest = tag.split("-")
    return (
        0 < len(first) <= 8
        and first.isascii()
        and first.isalpha()
        and all(0 < len(part) <= 8 and part.isascii() and part.isalnum() for part in rest)
    )


def _check_template(key: str, template: object) -> None:
    if key not in MESSAGE_KEYS:
        msg = "unknown key"
        raise CatalogueError(msg)
    if not isinstance(template, str):
        msg = f"template must be a string, not {type(template).__name__}"
        raise CatalogueError(msg)
    allowed = MESSAGE_KEYS[key]
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        msg = f"bad braces: {exc} (write {{{{ and }}}} for literal braces)"
        raise CatalogueError(msg) from None
    for _, name, spec, conversion in fields:
        if name is not None and (spec or conversion or not name.isidentifier()):
            msg = f"placeholder {{{name}}} must be a plain name, without format or index"
            raise CatalogueError(msg)
    _format(template, dict.fromkeys(allowed, "x"))


# ---------------------------------------------------------------------------------------------
# Fitting text into its bound


@dataclass(frozen=True)
class _Line:
    """A template with its values; only the ``free`` values (names) may be shortened."""

    template: str
    values: Mapping[str, str]
    free: frozenset[str] = frozenset()

    def render(self) -> str:
        return _format(self.template, self.values)


def _shorten(text: str, limit: int) -> str:
    """Cut a name to ``limit`` characters with an ellipsis, at a word break when one is near."""
    if len(text) <= limit:
        return text
    head = text[: max(limit - 1, 0)]
    cut = max((i for i, char in enumerate(head) if char in _BREAKS), default=-1)
    if cut >= len(head) * 2 // 3:
        head = head[:cut]
    return head.rstrip("".join(_BREAKS)) + _ELLIPSIS


def _fit(line: _Line, limit: int) -> str | None:
    """Render within ``limit``, shortening the longest name first; None if names cannot help."""
    values = dict(line.values)
    text = _format(line.template, values)
    while len(text) > limit:
        names = [name for name in sorted(line.free) if len(values[name]) > 1]
        if not names:
            return None
        name = max(names, key=lambda n: len(values[n]))
        target = max(1, len(values[name]) - (len(text) - limit))
        values[name] = _shorten(line.values[name], target)
        text = _format(line.template, values)
    return text


def _fit_or_cut(line: _Line, limit: int) -> str:
    fitted = _fit(line, limit)
    return fitted if fitted is not None else _shorten(line.render(), limit)


# ---------------------------------------------------------------------------------------------
# Composition


@dataclass(frozen=True)
class _Draft:
    """A message before fitting: what the load-time check and the composers share."""

    language: str
    title: _Line
    title_prefix: str
    body: _Line
    full: tuple[str, ...]
    level: int | None
    hazard: str
    pattern: Pattern
    exercise: bool
    event: str
    instruction: str
    url: str | None = None


def _finish(draft: _Draft, catalogue: Catalogue) -> Message:
    title = draft.title_prefix + _fit_or_cut(draft.title, TITLE_MAX_CHARS - len(draft.title_prefix))
    notice = catalogue.template(draft.language, "exercise.notice") if draft.exercise else ""
    full = [notice, draft.title_prefix + draft.title.render(), *draft.full]
    return Message(
        language=draft.language,
        title=title,
        body=_fit_or_cut(draft.body, BODY_MAX_CHARS),
        full_text="\n".join(part for part in full if part),
        level=draft.level,
        colour=LEVEL_COLOURS.get(draft.level or 0, NO_LEVEL_COLOUR),
        hazard=draft.hazard,
        pattern=draft.pattern,
        exercise=draft.exercise,
        language_tag=catalogue.language_tag(draft.language),
        event=draft.event,
        instruction=draft.instruction,
        url=draft.url,
    )


class _Texts:
    """One language's templates, with the number and time formats built from them."""

    def __init__(self, catalogue: Catalogue, language: str) -> None:
        self.language = language
        self.get = partial(catalogue.template, language)

    def line(self, key: str, free: tuple[str, ...] = (), **values: str) -> _Line:
        """Names are typed by people: a stray newline or tab must not break a lock screen."""
        tidy = {name: " ".join(values[name].split()) for name in free}
        return _Line(self.get(key), values | tidy, frozenset(free))

    def text(self, key: str, **values: str) -> str:
        return _format(self.get(key), values)

    def distance(self, metres: float) -> str:
        """Round to 10 m below 1 km, to 0.1 km below 10 km, and to 1 km above."""
        rounded = max(10, round(metres / 10) * 10)
        if rounded < 1000:
            return self.text("unit.metres", value=str(rounded))
        km = metres / 1000
        return self.text("unit.kilometres", value=f"{km:.1f}" if km < 10 else str(round(km)))

    def minutes(self, minutes: float) -> str:
        """Round up: telling someone they have more time than they do is the costly error."""
        return self.text("unit.minutes", value=str(max(1, math.ceil(minutes))))

    def floor(self, floor: int) -> str:
        return self.text("unit.floor", value=str(floor))

    def time(self, moment: datetime) -> str:
        local = moment.astimezone(JST)
        parts = {"year": f"{local.year}", "month": f"{local.month}", "day": f"{local.day}"}
        return self.text("time", **parts, hour=f"{local.hour}", minute=f"{local.minute:02d}")


def _alert_draft(alert: AlertFacts, texts: _Texts, pattern: Pattern) -> _Draft:
    """The parts every alert message shares: title, event, action and the full alert line."""
    level_name = texts.get(f"level.{alert.level}")
    hazard = texts.get(f"hazard.{alert.hazard}")
    title = texts.line(
        "title.alert",
        ("area",),
        mark=texts.text("mark.level", level=str(alert.level)),
        level_name=level_name,
        hazard=hazard,
        hazard_risk=texts.get(f"hazard_risk.{alert.hazard}"),
        area=alert.area_name,
    )
    instruction = texts.get(f"action_long.{alert.level}")
    full_alert = texts.text(
        "full.alert",
        time=texts.time(alert.issued_at),
        area=alert.area_name,
        level=str(alert.level),
        level_name=level_name,
        hazard=hazard,
        action=instruction,
    )
    headline = (alert.headline or {}).get(texts.language, "")
    body = texts.line(
        "body.alert", ("area",), area=alert.area_name, level=str(alert.level),
        level_name=level_name, hazard=hazard, action=texts.get(f"action.{alert.level}"),
    )  # fmt: skip
    if headline:
        body = texts.line(
            "body.alert_headline", ("headline",), headline=headline,
            action=texts.get(f"action.{alert.level}"),
        )  # fmt: skip
    return _Draft(
        language=texts.language,
        title=title,
        title_prefix=texts.get("mark.exercise") if alert.exercise else "",
        body=body,
        full=(headline, full_alert),
        level=alert.level,
        hazard=alert.hazard,
        pattern=pattern,
        exercise=alert.exercise,
        event=texts.text("event", level_name=level_name, hazard=hazard),
        instruction=instruction,
    )


def _with(draft: _Draft, body: _Line, extra: tuple[str, ...], url: str | None = None) -> _Draft:
    """Put a pattern's own body first and its details before the alert's general lines."""
    full = (draft.full[0], *extra, *draft.full[1:])
    return replace(draft, body=body, full=full, url=url)


def _route_draft(alert: AlertFacts, route: RouteFacts, texts: _Texts) -> _Draft:
    profile = route.profile if route.profile in PROFILES else "other"
    values = {
        "shelter": route.shelter_name,
        "distance": texts.distance(route.distance_m),
        "minutes": texts.minutes(route.minutes),
        "profile": texts.get(f"profile.{profile}"),
    }
    body = texts.line("body.route", ("shelter",), action=texts.get(f"action.{alert.level}"),
                      **values)  # fmt: skip
    full = texts.text("full.route", map_url=route.map_url, **values)
    extra = (full, *_depth_lines(route.building, texts))
    return _with(_alert_draft(alert, texts, "C"), body, extra, route.map_url)


def _depth_lines(building: BuildingFacts | None, texts: _Texts) -> tuple[str, ...]:
    """The water expected where the resident is, for the full text under a route: none when
    the model expects none there (a dry building needs no words next to a route)."""
    if building is None or building.depth_m <= 0:
        return ()
    return (texts.text("full.route_depth", **_building_values(building, texts)),)


def _building_values(building: BuildingFacts, texts: _Texts) -> dict[str, str]:
    return {
        "building": building.building_name or texts.get("building.home"),
        "depth": texts.text("unit.depth", value=f"{building.depth_m:.1f}"),
        "floor": texts.floor(building.safe_floor),
    }


def _no_route_draft(alert: AlertFacts, advice: NoRouteFacts, texts: _Texts) -> _Draft:
    """Vertical evacuation: the nearest tall refuge, else the safe floor, else "go up"."""
    floor = texts.floor(advice.safe_floor) if advice.safe_floor is not None else ""
    if advice.refuge_name and floor:
        body = texts.line("body.noroute_refuge", ("refuge",), refuge=advice.refuge_name,
                          floor=floor)  # fmt: skip
    elif advice.refuge_name:
        body = texts.line("body.noroute_building", ("refuge",), refuge=advice.refuge_name)
    elif floor:
        body = texts.line("body.noroute_floor", floor=floor)
    else:
        body = texts.line("body.noroute")
    known = advice.reason in NO_ROUTE_REASONS
    reason = texts.get(f"noroute.reason.{advice.reason}") if known else advice.reason
    extra = (body.render(), texts.text("full.noroute", reason=reason) if reason else "")
    return _with(_alert_draft(alert, texts, "C"), body, extra)


def _incident_draft(
    incident: IncidentFacts, texts: _Texts, level: int | None, *, exercise: bool
) -> _Draft:
    if level is not None and level not in LEVEL_COLOURS:
        msg = f"level must be 1..5 (警戒レベル) or None, not {level!r}"
        raise ValueError(msg)
    kind = texts.get(f"incident.{incident.kind}")
    mark = texts.text("mark.level", level=str(level)) if level else texts.get("mark.incident")
    distance = texts.distance(incident.distance_m)
    common = {"kind": kind, "place": incident.place, "distance": distance}
    advice = texts.get(f"incident_advice.{incident.kind}")
    happened = texts.text("full.incident", time=texts.time(incident.reported_at), advice=advice,
                          **common)  # fmt: skip
    if incident.avoid:
        body = texts.line("body.incident_avoid", ("place", "avoid"), avoid=incident.avoid, **common)
        full = (happened, texts.text("full.incident_avoid", avoid=incident.avoid))
    else:
        body = texts.line("body.incident", ("place",), **common)
        full = (happened,)
    return _Draft(
        language=texts.language,
        title=texts.line("title.incident", ("place",), mark=mark, kind=kind, place=incident.place),
        title_prefix=texts.get("mark.exercise") if exercise else "",
        body=body,
        full=full,
        level=level,
        hazard=incident.kind,
        pattern="D",
        exercise=exercise,
        event=kind,
        instruction=advice,
    )


def _building_draft(alert: AlertFacts, building: BuildingFacts, texts: _Texts) -> _Draft:
    name = building.building_name or texts.get("building.home")
    free = ("building",) if building.building_name else ()
    if building.depth_m <= 0:
        body = texts.line("body.building_dry", free, building=name)
        return _with(_alert_draft(alert, texts, "E"), body, (body.render(),))
    values = _building_values(building, texts)
    body = texts.line("body.building", free, **values)
    return _with(_alert_draft(alert, texts, "E"), body, (texts.text("full.building", **values),))


def compose_alert(facts: AlertFacts, language: str, catalogue: Catalogue) -> Message:
    """Return the alert as everyone in the area gets it, with no personal details."""
    texts = _Texts(catalogue, catalogue.resolve(language))
    return _finish(_alert_draft(facts, texts, "plain"), catalogue)


def compose_pattern_c(
    alert: AlertFacts,
    route: RouteFacts | NoRouteFacts,
    language: str,
    catalogue: Catalogue,
) -> Message:
    """Return the alert with the resident's own way out (pattern C).

    With a route: shelter, distance, minutes and the map on tap. Without one: where to go up,
    since walking out into the water is worse than the top floor of a nearby building.
    """
    texts = _Texts(catalogue, catalogue.resolve(language))
    if isinstance(route, RouteFacts):
        return _finish(_route_draft(alert, route, texts), catalogue)
    return _finish(_no_route_draft(alert, route, texts), catalogue)


def compose_pattern_d(
    incident: IncidentFacts,
    language: str,
    catalogue: Catalogue,
    *,
    level: int | None = None,
    exercise: bool = False,
) -> Message:
    """Return what happened, where, how far away and what to avoid (pattern D).

    ``level`` is the 警戒レベル in force, if HQ attaches one; without it the title carries an
    incident mark and the message is grey, so it is never mistaken for a level.
    """
    texts = _Texts(catalogue, catalogue.resolve(language))
    return _finish(_incident_draft(incident, texts, level, exercise=exercise), catalogue)


def compose_pattern_e(
    alert: AlertFacts, building: BuildingFacts, language: str, catalogue: Catalogue
) -> Message:
    """Return the alert with building-level advice from the 3D city model (pattern E)."""
    texts = _Texts(catalogue, catalogue.resolve(language))
    return _finish(_building_draft(alert, building, texts), catalogue)


# ---------------------------------------------------------------------------------------------
# Load-time check: fixed text must leave room for names


def _check_fits(catalogue: Catalogue, language: str) -> None:
    """Refuse a language whose titles or bodies leave no room for short names.

    Every name of up to :data:`_MIN_NAME_CHARS` characters must show whole, with numbers at
    their widest plausible values (99 km, 999 min, 99.9 m, floor 99).
    """
    texts = _Texts(catalogue, language)
    moment = datetime(2026, 12, 31, 23, 59, tzinfo=JST)
    for draft in _extreme_drafts(texts, moment):
        title_room = TITLE_MAX_CHARS - len(draft.title_prefix)
        for what, text, limit in (
            ("title", draft.title.render(), title_room),
            ("body", draft.body.render(), BODY_MAX_CHARS),
        ):
            if len(text) > limit:
                msg = f"{language}: {what} {text!r} is over {limit} chars with short names"
                raise CatalogueError(msg)


def _extreme_drafts(texts: _Texts, moment: datetime) -> list[_Draft]:
    name = "x" * _MIN_NAME_CHARS
    drafts = []
    for level in LEVEL_COLOURS:
        for hazard in HAZARDS:
            alert = AlertFacts(level, hazard, name, {texts.language: name}, moment, exercise=True)
            plain = AlertFacts(level, hazard, name, None, moment, exercise=True)
            drafts += [_alert_draft(alert, texts, "plain"), _alert_draft(plain, texts, "plain")]
        route = RouteFacts(name, 99_000, 999, "https://example.invalid/", "slow_walk")
        drafts.append(_route_draft(alert, route, texts))
        for refuge, floor in ((name, 99), (name, None), (None, 99), (None, None)):
            drafts.append(_no_route_draft(alert, NoRouteFacts("too_late", refuge, floor), texts))
        for named in (name, None):
            drafts.append(_building_draft(alert, BuildingFacts(99.9, 99, named), texts))
            drafts.append(_building_draft(alert, BuildingFacts(0.0, 1, named), texts))
        for kind in INCIDENT_KINDS:
            for avoid in (name, None):
                incident = IncidentFacts(kind, name, 99_000, avoid, moment)
                drafts.append(_incident_draft(incident, texts, level, exercise=True))
                drafts.append(_incident_draft(incident, texts, None, exercise=True))
    return drafts
