"""Parsing ``sensor.raw`` values into :class:`SensorReading`, and the per-kind sensor thresholds.

The format is detected by content, so a bridge can forward whatever a platform sends:

- a plain reading ``{"sensor_id", "kind", "value", "observed_at", "location"?}`` (or an array of
  them), validated by the domain model as it is (``source="json"``);
- FIWARE smart-data-models entities WaterObserved, WeatherObserved and FloodMonitoring, in NGSI-LD
  (key-values or normalized: ``Property``/``GeoProperty`` wrappers, ``observedAt``, ``unitCode``)
  or NGSI v2 (key-values or normalized: ``{"type": "Number", "value": ...}``,
  ``metadata.unitCode``); alone, in an array, in a notification (NGSI-LD
  ``{"type": "Notification", "data": [...]}`` or v2 ``{"subscriptionId", "data"}``) or as a GeoJSON
  ``Feature``/``FeatureCollection``. One entity gives one reading per quantity we measure.

Decisions, each because a wrong guess would misplace or mis-scale a warning:

- **Units.** A ``unitCode`` (UN/CEFACT Rec. 20: ``MTR``, ``CMT``, ``MMT``, ``H67`` mm/h) wins;
  without one, the unit the model's schema states is assumed. Other codes are refused, not guessed.
- **WaterObserved.** ``waterLevel`` (schema: metres) → ``water_level``; ``height`` ("water height",
  no unit in the schema, metres assumed) only when ``waterLevel`` is absent, so one entity never
  gives two different levels for the same instant. ``flow`` and the other quantities are skipped.
- **WeatherObserved.** ``precipitation`` is "amount of water rain registered" in litres per m², i.e.
  mm over the observation period, not a rate: it becomes ``rain_accumulated`` unless its unit code
  is ``H67`` (mm/h), then ``rain_rate``. ``streamGauge`` (schema: centimetres) → ``water_level`` m.
- **FloodMonitoring.** ``currentLevel`` (metres above the river bed) → ``water_level``; its time is
  ``observationDateTime``.
- **Coordinates** are GeoJSON ``[lon, lat]``. Swapped pairs cannot be detected in general (the
  upstream WaterObserved examples give Nice airport as ``[43.66481, 7.196545]``, which is a valid
  point off Somalia, and is read as such); a pair outside the degree ranges is refused, not swapped.
- **Times** come from the property's ``observedAt``, else the entity's observation time; a
  JSON-LD typed literal ``{"@value": ...}`` and a ``Relationship`` ``object`` (a mistake in the
  upstream WaterObserved example) are read too. Naive times are refused by the model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from disaster.domain.errors import InvalidInputError
from disaster.domain.models import GeoPoint
from disaster.domain.sensor import SensorKind, SensorReading

__all__ = ["MAX_SENSOR_BYTES", "SensorHazard", "SensorThresholds", "parse_sensor", "sensor_hazard"]

MAX_SENSOR_BYTES = 1 << 20  # 1 MiB: a notification of a few thousand entities, not a file dump
_MAX_ERRORS_SHOWN = 3
_MAX_SHOWN_CHARS = 60
_LD_WRAPPERS = ("Property", "GeoProperty", "Relationship")  # a tuple: user values may be unhashable

#: UN/CEFACT Rec. 20 codes we convert: (dimension, size in mm, or in mm/h for a rate).
_UNIT_CODES: dict[str, tuple[str, int]] = {
    "MTR": ("length", 1000),  # metre
    "CMT": ("length", 10),  # centimetre
    "MMT": ("length", 1),  # millimetre, also litres per m² of rain
    "H67": ("rate", 1),  # millimetre per hour
}
#: Size in mm (or mm/h) of the unit each kind is stored in (``SENSOR_UNITS``).
_KIND_SIZE = {"water_level": 1000, "water_depth": 1000, "rain_accumulated": 1, "rain_rate": 1}


@dataclass(frozen=True)
class _Quantity:
    """One measured attribute of a data model and the reading it becomes."""

    attributes: tuple[str, ...]  # synonyms, the first present wins
    default_unit: str  # the unit the model's schema states, used when no unitCode is given
    kinds: tuple[tuple[str, SensorKind], ...]  # dimension of the unit -> kind


@dataclass(frozen=True)
class _Model:
    """What we read from one smart-data-models entity type."""

    time_attribute: str
    quantities: tuple[_Quantity, ...]


_LEVEL: tuple[tuple[str, SensorKind], ...] = (("length", "water_level"),)
_RAIN: tuple[tuple[str, SensorKind], ...] = (("length", "rain_accumulated"), ("rate", "rain_rate"))
_MODELS: dict[str, _Model] = {
    "WaterObserved": _Model("dateObserved", (_Quantity(("waterLevel", "height"), "MTR", _LEVEL),)),
    "WeatherObserved": _Model(
        "dateObserved",
        (_Quantity(("precipitation",), "MMT", _RAIN), _Quantity(("streamGauge",), "CMT", _LEVEL)),
    ),
    "FloodMonitoring": _Model(
        "observationDateTime", (_Quantity(("currentLevel",), "MTR", _LEVEL),)
    ),
}


@dataclass(frozen=True)
class _Attr:
    """An attribute's value and metadata, whatever representation it came in."""

    value: object
    unit_code: object = None
    observed_at: object = None


def parse_sensor(raw: bytes | None) -> list[SensorReading]:
    """Parse one ``sensor.raw`` value into one reading per measured quantity.

    Raises :class:`InvalidInputError` (and nothing else, for any bytes) with a short reason for the
    dead-letter queue. An array or notification is all or nothing, so nothing is half-applied.
    """
    if raw is None:
        msg = "empty record: expected a sensor reading or NGSI entities"
        raise InvalidInputError(msg)
    if len(raw) > MAX_SENSOR_BYTES:
        msg = f"message is {len(raw)} bytes, more than {MAX_SENSOR_BYTES} (1 MiB)"
        raise InvalidInputError(msg)
    if raw.startswith(b'{"sensor_id"'):  # the common plain reading: validate in one pass
        try:
            reading = SensorReading.model_validate_json(raw)
        except ValidationError:
            pass  # the full reader below gives the precise reason
        else:  # a plain reading says nothing of its source, or says it falsely: it is JSON
            keep = reading.source == "json"
            return [reading if keep else reading.model_copy(update={"source": "json"})]
    return _readings_from_document(_load_json(raw))


def _load_json(raw: bytes) -> object:
    """Decode strict JSON: NaN and Infinity are refused, as are documents nested too deeply."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        msg = "not JSON: nested too deeply"
        raise InvalidInputError(msg) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        msg = f"not JSON: {exc}"
        raise InvalidInputError(msg) from None


def _refuse_constant(name: str) -> object:
    msg = f"{name} is not a JSON number"
    raise ValueError(msg)


def _readings_from_document(doc: object) -> list[SensorReading]:
    """Dispatch on the document's shape: an array, an envelope of entities, or one object."""
    if isinstance(doc, list):
        return _readings_from_items(doc, ld=False, what="array")
    if not isinstance(doc, dict):
        msg = f"expected a JSON object or array, got {_show(doc)}"
        raise InvalidInputError(msg)
    if doc.get("type") == "Notification":
        return _readings_from_items(doc.get("data"), ld=True, what="notification data")
    if doc.get("type") == "FeatureCollection":
        return _readings_from_items(doc.get("features"), ld=True, what="features")
    if "type" not in doc and "subscriptionId" in doc and "data" in doc:  # NGSI v2 notification
        return _readings_from_items(doc["data"], ld=False, what="notification data")
    return _readings_from_object(doc, ld=False)


def _readings_from_items(items: object, *, ld: bool, what: str) -> list[SensorReading]:
    """Parse every item, naming the first bad one; an empty list is refused (nothing to do)."""
    if not isinstance(items, list):
        msg = f"{what} must be an array"
        raise InvalidInputError(msg)
    if not items:
        msg = f"{what} is empty: no readings"
        raise InvalidInputError(msg)
    readings: list[SensorReading] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                msg = f"expected an object, got {_show(item)}"
                raise InvalidInputError(msg)
            readings.extend(_readings_from_object(item, ld=ld))
        except InvalidInputError as exc:
            msg = f"item {index}: {exc.reason}"
            raise InvalidInputError(msg) from None
    return readings


def _readings_from_object(obj: dict[str, Any], *, ld: bool) -> list[SensorReading]:
    """Tell a GeoJSON feature, an entity (it has a ``type``) and a plain reading apart."""
    if obj.get("type") == "Feature":
        return _readings_from_entity(_feature_entity(obj), ld=True)
    if "type" in obj:
        return _readings_from_entity(obj, ld=ld)
    if "sensor_id" in obj or "kind" in obj:
        return [_validated({**obj, "source": "json"})]
    msg = "neither a sensor reading (no sensor_id or kind) nor an NGSI entity (no type)"
    raise InvalidInputError(msg)


def _feature_entity(feature: dict[str, Any]) -> dict[str, Any]:
    """Turn a smart-data-models GeoJSON feature back into a key-values entity."""
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        msg = "GeoJSON feature without an object of properties"
        raise InvalidInputError(msg)
    entity = {**properties, "id": feature.get("id", properties.get("id"))}
    if "geometry" in feature:
        entity["location"] = feature["geometry"]
    return entity


def _readings_from_entity(entity: dict[str, Any], *, ld: bool) -> list[SensorReading]:
    """Return one reading per quantity of the entity's data model that the entity carries."""
    entity_id = entity.get("id")
    if not isinstance(entity_id, str):
        msg = "entity without a string id"
        raise InvalidInputError(msg)
    model = _model_for(entity)
    where = f"entity {_show(entity_id)}"
    common = {
        "sensor_id": entity_id,
        "location": _location(entity, where),
        "source": "ngsi-ld" if ld or _looks_ld(entity) else "ngsi-v2",
    }
    readings = []
    for quantity in model.quantities:
        found = _first_attribute(entity, quantity.attributes)
        if found is None:
            continue
        name, attr = found
        kind, value = _converted(quantity, attr, f"{where}: {name}")
        observed_at = _observed_at(entity, model, attr, where)
        fields = {**common, "kind": kind, "value": value, "observed_at": observed_at}
        readings.append(_validated(fields, f"{where}: "))
    if not readings:
        names = ", ".join(n for q in model.quantities for n in q.attributes)
        msg = f"no measurable quantity in {where}: expected one of {names}"
        raise InvalidInputError(msg)
    return readings


def _model_for(entity: dict[str, Any]) -> _Model:
    """Return the data model of a supported entity type; Alert and the like are refused."""
    entity_type = entity.get("type")
    model = _MODELS.get(entity_type) if isinstance(entity_type, str) else None
    if model is None:
        msg = f"unknown entity type {_show(entity_type)}: expected one of {', '.join(_MODELS)}"
        raise InvalidInputError(msg)
    return model


def _looks_ld(entity: dict[str, Any]) -> bool:
    """Tell NGSI-LD from v2 for the ``source`` label; key-values without a context look like v2."""
    if "@context" in entity or str(entity.get("id")).startswith("urn:ngsi-ld:"):
        return True
    return any(isinstance(v, dict) and v.get("type") in _LD_WRAPPERS for v in entity.values())


def _first_attribute(entity: dict[str, Any], names: tuple[str, ...]) -> tuple[str, _Attr] | None:
    for name in names:
        attr = _attribute(entity, name)
        if attr is not None:
            return name, attr
    return None


def _attribute(entity: dict[str, Any], name: str) -> _Attr | None:
    """Unwrap a normalized attribute (NGSI-LD or v2) or take a key-values one as it is."""
    if name not in entity:
        return None
    raw = entity[name]
    if not _is_wrapped(raw):
        return _Attr(_literal(raw))
    value = raw["value"] if "value" in raw else raw["object"]
    metadata = raw.get("metadata")
    unit_code = metadata.get("unitCode") if isinstance(metadata, dict) else None
    if isinstance(unit_code, dict):  # v2 metadata is itself {"type": "Text", "value": "MTR"}
        unit_code = unit_code.get("value")
    return _Attr(_literal(value), raw.get("unitCode", unit_code), raw.get("observedAt"))


def _is_wrapped(raw: object) -> bool:
    """Tell a normalized attribute from a key-values value.

    A key-values GeoJSON location also has a ``type``, but never a ``value``, so a wrapper is a
    ``type`` together with a ``value`` (or a Relationship's ``object``).
    """
    return isinstance(raw, dict) and "type" in raw and ("value" in raw or "object" in raw)


def _literal(value: object) -> object:
    """Read a JSON-LD typed literal ``{"@type": "DateTime", "@value": ...}`` as its value."""
    if isinstance(value, dict) and "@value" in value:
        return value["@value"]
    return value


def _converted(quantity: _Quantity, attr: _Attr, where: str) -> tuple[SensorKind, float]:
    """Return the kind the attribute's unit makes it, and its value in that kind's unit."""
    code = quantity.default_unit if attr.unit_code is None else attr.unit_code
    dimension, size = _UNIT_CODES.get(code, ("", 0)) if isinstance(code, str) else ("", 0)
    kind = dict(quantity.kinds).get(dimension)
    if kind is None:
        known = ", ".join(c for c, (d, _) in _UNIT_CODES.items() if d in dict(quantity.kinds))
        msg = f"{where}: unit code {_show(code)} is not supported (expected {known})"
        raise InvalidInputError(msg)
    value = _number(attr.value, where)
    if size != _KIND_SIZE[kind]:
        value = value * size / _KIND_SIZE[kind]
    return kind, value


def _number(value: object, where: str) -> float:
    """Accept a finite JSON number; booleans, strings and huge integers are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{where}: expected a number, got {_show(value)}"
        raise InvalidInputError(msg)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        msg = f"{where}: value must be a finite number"
        raise InvalidInputError(msg)
    return number


def _observed_at(entity: dict[str, Any], model: _Model, attr: _Attr, where: str) -> object:
    """Prefer the property's own ``observedAt``; else the entity's observation time."""
    if attr.observed_at is not None:
        return attr.observed_at
    entity_time = _attribute(entity, model.time_attribute)
    if entity_time is None or entity_time.value is None:
        msg = f"{where}: no observation time ({model.time_attribute} or observedAt)"
        raise InvalidInputError(msg)
    return entity_time.value


def _location(entity: dict[str, Any], where: str) -> GeoPoint | None:
    """Read a GeoJSON Point as ``[lon, lat]``; a pair out of range is refused, never swapped."""
    attr = _attribute(entity, "location")
    if attr is None:
        return None
    geometry = attr.value
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        msg = f"{where}: location must be a GeoJSON Point"
        raise InvalidInputError(msg)
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) not in (2, 3):
        msg = f"{where}: location coordinates must be [lon, lat] or [lon, lat, altitude]"
        raise InvalidInputError(msg)
    lon, lat = (_number(c, f"{where}: location") for c in coordinates[:2])
    try:
        return GeoPoint(lat=lat, lon=lon)
    except ValidationError:
        msg = f"{where}: location [{lon}, {lat}] is not GeoJSON [lon, lat] in degrees"
        raise InvalidInputError(msg) from None


def _validated(fields: dict[str, Any], prefix: str = "") -> SensorReading:
    """Validate with the domain model, summarising its errors as ``field: message``."""
    try:
        return SensorReading.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInputError(prefix + _summarise(exc)) from None


def _summarise(exc: ValidationError) -> str:
    """One line naming the first few bad fields; a hostile payload cannot make it long."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = [
        f"{'.'.join(str(p) for p in e['loc'])[:_MAX_SHOWN_CHARS] or 'reading'}: {e['msg']}"
        for e in errors[:_MAX_ERRORS_SHOWN]
    ]
    if len(errors) > _MAX_ERRORS_SHOWN:
        parts.append(f"and {len(errors) - _MAX_ERRORS_SHOWN} more")
    return "; ".join(parts)


def _show(value: object) -> str:
    """A short, printable rendering of a value from the input (never a whole structure)."""
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN_CHARS else text[: _MAX_SHOWN_CHARS - 3] + "..."


# --- thresholds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SensorThresholds:
    """Warning and danger values per kind, each a ``(warning, danger)`` pair, inclusive.

    Defaults and why:

    - ``rain_rate_mm_h`` 30 / 50: JMA's rain-intensity terms, 激しい雨 from 30 mm/h ("like pouring
      from a bucket", road drains overflow) and 非常に激しい雨 from 50 mm/h (visibility lost,
      underpasses and basements flood).
    - ``rain_accumulated_mm`` 100 / 200: event totals at which municipal disaster HQs commonly start
      to watch for and to expect landslides and inland flooding. JMA's own warning criteria are
      per-area index values, so there is no national figure: tune per municipality.
    - ``water_depth_m`` 0.1 / 0.3: over 10 cm hides kerbs, drains and open manholes, so vehicles
      should not enter; about 30 cm (a car's door sill) is the commonly cited depth at which cars
      stall and start to float (JAF and MLIT road-flooding guidance), hence road closure.
    - ``seismic_intensity`` 4.5 / 5.5: the JMA instrumental intensity (計測震度) lower bounds of
      震度5弱 and 震度6弱.
    - ``tilt_deg`` 1.0 / 3.0: project defaults for inclinometers on slopes and retaining walls
      (movement to inspect, movement to evacuate below); tune per installation.

    ``water_level`` has none: a level on a gauge's own datum means nothing without that station's
    thresholds, which the river stages apply.
    """

    rain_rate_mm_h: tuple[float, float] = (30.0, 50.0)
    rain_accumulated_mm: tuple[float, float] = (100.0, 200.0)
    water_depth_m: tuple[float, float] = (0.1, 0.3)
    seismic_intensity: tuple[float, float] = (4.5, 5.5)
    tilt_deg: tuple[float, float] = (1.0, 3.0)

    def __post_init__(self) -> None:
        """Refuse a pair that could never warn before it is dangerous."""
        for name, (warning, danger) in self._pairs().items():
            if not (math.isfinite(warning) and math.isfinite(danger) and warning <= danger):
                msg = f"{name}: warning {warning} must be finite and at most danger {danger}"
                raise ValueError(msg)

    def _pairs(self) -> dict[str, tuple[float, float]]:
        return {
            "rain_rate": self.rain_rate_mm_h,
            "rain_accumulated": self.rain_accumulated_mm,
            "water_depth": self.water_depth_m,
            "seismic_intensity": self.seismic_intensity,
            "tilt": self.tilt_deg,
        }

    def levels(self, kind: str) -> tuple[float, float] | None:
        """Return ``(warning, danger)`` for a kind, or None when the kind has no thresholds."""
        return self._pairs().get(kind)


_DEFAULT_THRESHOLDS = SensorThresholds()


@dataclass(frozen=True)
class SensorHazard:
    """A reading at or above its kind's warning or danger value."""

    kind: SensorKind
    severity: Literal["warning", "danger"]
    value: float
    threshold: float
    closes_road: bool  # water over the road at danger depth: the road must be closed


def sensor_hazard(
    reading: SensorReading, thresholds: SensorThresholds | None = None
) -> SensorHazard | None:
    """Return the hazard a reading shows, or None below warning (boundaries count as reached)."""
    levels = (thresholds or _DEFAULT_THRESHOLDS).levels(reading.kind)
    if levels is None:
        return None
    warning, danger = levels
    if reading.value >= danger:
        severity: Literal["warning", "danger"] = "danger"
        threshold = danger
    elif reading.value >= warning:
        severity, threshold = "warning", warning
    else:
        return None
    closes_road = reading.kind == "water_depth" and severity == "danger"
    return SensorHazard(reading.kind, severity, reading.value, threshold, closes_road)
