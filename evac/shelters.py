"""Import shelters from the Japanese open-data formats, recognised by content, not file name.

* 推奨データセット CSV (指定緊急避難場所一覧 / 指定避難所一覧): UTF-8 with or without BOM, or
  Shift_JIS/CP932 as Excel writes it. Headers are matched after NFKC, so full-width variants
  agree. Hazard columns are ``災害種別_<洪水…>``, read by :func:`parse_flag` (1, ○, ◎ …); an
  unknown mark rejects the row rather than guess whether a site is safe from a tsunami.
  Capacity is :func:`parse_capacity` of ``想定収容人数`` (indoor persons), ``ID`` is the id.
* The Nanao open-shelter lists (same columns plus ``人数…``): every row is open, with that many
  evacuees. :func:`apply_open_status` lays such a snapshot over the designated list.
* GSI 指定緊急避難場所 / 指定避難所 GeoJSON (``施設・場所名``, ``共通ID``, bare hazard names).
  The jp-shelter-api "unavailable" stub is refused with its own message.
* Any of these GeoJSONs with a legacy ``crs`` member naming an EPSG code: reprojected to WGS84
  with pyproj. Other crs forms are refused, since a wrong guess moves a shelter by kilometres.

A bad row never loses the others: it lands in :attr:`ShelterImport.rejected_rows` with its row
(CSV: the spreadsheet row, header = 1; GeoJSON: the index into ``features``) and a reason.
A file that cannot be read at all raises :class:`InvalidInputError`.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pyproj
from pydantic import ValidationError
from pyproj.exceptions import CRSError

from disaster.domain import GeoPoint, InvalidInputError
from disaster.domain.geo import distance_m
from disaster.domain.shelter import (
    HAZARD_NAMES_JA,
    Hazard,
    Shelter,
    ShelterKind,
    derive_shelter_id,
    parse_capacity,
    parse_flag,
)

__all__ = ["ShelterImport", "apply_open_status", "shelters_from_file"]

_ENCODINGS = ("utf-8-sig", "cp932")
_ALIASES = {
    "id": ("ID", "共通ID"),
    "name": ("名称", "施設・場所名"),
    "address": ("所在地_連結表記", "住所"),
    "lat": ("緯度",),
    "lon": ("経度",),
    "elevation": ("標高",),
    "capacity": ("想定収容人数",),
}
_ALSO_SHELTER = "指定避難所との住所同一"  # in an emergency-site list: the site is also a 指定避難所
_ALSO_EMERGENCY = "指定緊急避難場所との住所同一"  # in a shelter list: also a 指定緊急避難場所
_CRS84 = frozenset({"urn:ogc:def:crs:ogc:1.3:crs84", "urn:ogc:def:crs:ogc::crs84", "ogc:crs84"})
_EPSG_NAME = re.compile(r"(?:urn:ogc:def:crs:epsg:[\d.]*:|epsg:)(\d+)")
_MAX_DISAGREEMENT_M = 100.0

_Row = Mapping[str, object]
ToWgs84 = Callable[[float, float], tuple[float, float]]
_Raw = TypeVar("_Raw")


@dataclass(frozen=True)
class ShelterImport:
    """What a file gave: the shelters, and the rows refused with why, so an operator sees both."""

    shelters: list[Shelter]
    rejected_rows: list[tuple[int, str]] = field(default_factory=list)
    source_format: str = ""


@dataclass(frozen=True)
class _Layout:
    """Which key holds what in one file, decided once from the header or the property names."""

    columns: dict[str, str]
    hazards: dict[Hazard, str]
    occupancy: str | None
    also: str | None
    list_kind: ShelterKind
    fmt: str
    source: str


def shelters_from_file(path: Path) -> ShelterImport:
    """Read a shelter file in any supported format; see the module docstring for the rules."""
    text = _decode(_read(path))
    if text.lstrip().startswith(("{", "[")):
        return _from_geojson(text, path.name)
    return _from_csv(text, path.name)


def apply_open_status(designated: Sequence[Shelter], open_now: Sequence[Shelter]) -> list[Shelter]:
    """Return the designated shelters with ``open``/``occupancy`` taken from an open-shelter list.

    The list is a snapshot of everything open at one time, so a designated shelter missing from
    it is closed. Open sites missing from the designated list (ad-hoc ones) are appended as they
    are: the people sheltering there must not drop out of the count.
    """
    opened = {shelter.id: shelter.occupancy for shelter in open_now if shelter.open}
    known = {shelter.id for shelter in designated}
    updated = [
        shelter.model_copy(
            update={"open": shelter.id in opened, "occupancy": opened.get(shelter.id, 0)}
        )
        for shelter in designated
    ]
    return updated + [shelter for shelter in open_now if shelter.open and shelter.id not in known]


def _read(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror or exc}"
        raise InvalidInputError(msg) from None
    if not raw.strip():
        msg = f"{path.name} is empty"
        raise InvalidInputError(msg)
    return raw


def _decode(raw: bytes) -> str:
    """Try UTF-8 (BOM or not) first, then CP932: Japanese CP932 text is practically never UTF-8."""
    if b"\x00" in raw:
        msg = "file contains NUL bytes: binary or UTF-16, not UTF-8 or Shift_JIS text"
        raise InvalidInputError(msg)
    for encoding in _ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    msg = "file is neither UTF-8 nor Shift_JIS/CP932 text"
    raise InvalidInputError(msg)


def _key(name: object) -> str:
    return unicodedata.normalize("NFKC", str(name)).strip()


def _layout(keys: Iterable[str], file_name: str, fmt: str) -> _Layout:
    """Map roles to the file's keys; refuse a file that lacks a name or whose kind is unclear."""
    present = set(keys)
    columns = {
        role: next(alias for alias in aliases if alias in present)
        for role, aliases in _ALIASES.items()
        if any(alias in present for alias in aliases)
    }
    if "name" not in columns:
        msg = f"not a shelter list: no 名称 or 施設・場所名 column (found {sorted(present)[:8]})"
        raise InvalidInputError(msg)
    hazards = _hazard_columns(present)
    if not hazards and _ALSO_EMERGENCY not in present:
        msg = "cannot tell 指定避難所 from 指定緊急避難場所: no 災害種別 columns and no 住所同一"
        raise InvalidInputError(msg)
    list_kind: ShelterKind = (
        "evacuation_shelter" if _ALSO_EMERGENCY in present else "emergency_site"
    )
    also = _ALSO_EMERGENCY if list_kind == "evacuation_shelter" else _ALSO_SHELTER
    occupancy = next((key for key in sorted(present) if key.startswith("人数")), None)
    also_key = also if also in present else None
    return _Layout(columns, hazards, occupancy, also_key, list_kind, fmt, f"{fmt}:{file_name}")


def _hazard_columns(present: set[str]) -> dict[Hazard, str]:
    """Find each hazard's flag column, 災害種別_洪水 (推奨データセット) or 洪水 (GSI)."""
    found: dict[Hazard, str] = {}
    for hazard, name in HAZARD_NAMES_JA.items():
        for key in (f"災害種別_{name}", name):
            if key in present:
                found[hazard] = key
                break
    return found


def _from_csv(text: str, file_name: str) -> ShelterImport:
    """Read a 推奨データセット CSV; a row with the wrong number of cells is refused, not shifted."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [_key(cell) for cell in next(reader)]
        rows = [(n, cells) for n, cells in enumerate(reader, start=2) if any(map(str.strip, cells))]
    except csv.Error as exc:
        msg = f"unreadable CSV near line {reader.line_num}: {exc}"
        raise InvalidInputError(msg) from None
    layout = _layout(header, file_name, "recommended-csv")

    def parse(cells: list[str]) -> Shelter:
        if len(cells) != len(header):
            msg = f"row has {len(cells)} cells but the header has {len(header)}"
            raise InvalidInputError(msg)
        row = dict(zip(header, cells, strict=True))
        return _shelter(row, layout, _position_from_columns(row, layout))

    return _collect(rows, parse, layout.fmt)


def _from_geojson(text: str, file_name: str) -> ShelterImport:
    """Read a GeoJSON FeatureCollection (GSI or 推奨データセット properties), reprojected."""
    document = _json_document(text)
    features = _features(document)
    to_wgs84 = _reprojector(document.get("crs"))
    if not features:
        return ShelterImport([], [], "geojson")
    keys = {_key(key) for feature in features for key in _properties(feature)}
    fmt = "gsi-geojson" if "施設・場所名" in keys else "recommended-geojson"
    layout = _layout(keys, file_name, fmt)

    def parse(feature: object) -> Shelter:
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            msg = "not a GeoJSON Feature"
            raise InvalidInputError(msg)
        row = {_key(key): value for key, value in _properties(feature).items()}
        geometry = feature.get("geometry")
        return _shelter(row, layout, _feature_position(row, geometry, layout, to_wgs84))

    return _collect(enumerate(features), parse, fmt)


def _json_document(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"not valid JSON: {exc.msg} at line {exc.lineno}"
        raise InvalidInputError(msg) from None
    if not isinstance(document, dict):
        msg = "JSON document is not an object, so not GeoJSON"
        raise InvalidInputError(msg)
    return document


def _features(document: dict[str, Any]) -> list[Any]:
    kind = document.get("type")
    if kind == "unavailable":
        where = document.get("name") or document.get("code") or "this municipality"
        msg = (
            f"no {document.get('dataType', 'shelter')} data for {where}: {document.get('message')}"
        )
        raise InvalidInputError(msg)
    if kind != "FeatureCollection" or not isinstance(document.get("features"), list):
        msg = f"JSON of type {kind!r} is not a GeoJSON FeatureCollection"
        raise InvalidInputError(msg)
    return document["features"]


def _properties(feature: object) -> dict[str, Any]:
    properties = feature.get("properties") if isinstance(feature, dict) else None
    return properties if isinstance(properties, dict) else {}


def _feature_position(row: _Row, geometry: object, layout: _Layout, to_wgs84: ToWgs84) -> GeoPoint:
    """Use the geometry; 緯度/経度 properties, when present, only cross-check it (or stand in)."""
    stated = None
    if "lat" in layout.columns and _text(row, layout.columns["lat"]):
        stated = _position_from_columns(row, layout)
    if geometry is None and stated is not None:
        return stated
    position = _point(*to_wgs84(*_point_coordinates(geometry)))
    if stated is not None and distance_m(position, stated) > _MAX_DISAGREEMENT_M:
        gap = distance_m(position, stated)
        msg = f"geometry and 緯度/経度 disagree by {gap:.0f} m; cannot tell which is right"
        raise InvalidInputError(msg)
    return position


def _point_coordinates(geometry: object) -> tuple[float, float]:
    """Take x, y from a Point (a third, height, value is ignored); other geometries are refused."""
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        kind = geometry.get("type") if isinstance(geometry, dict) else geometry
        msg = f"geometry is {kind!r}, not a Point"
        raise InvalidInputError(msg)
    coordinates = geometry.get("coordinates")
    items = coordinates[:2] if isinstance(coordinates, list) else []
    numbers = [v for v in items if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) < 2:
        msg = f"Point coordinates {coordinates!r} are not [x, y] numbers"
        raise InvalidInputError(msg)
    return float(numbers[0]), float(numbers[1])


def _reprojector(crs: object) -> ToWgs84:
    """Return (x, y) -> (lon, lat) for a legacy ``crs`` member; none means RFC 7946 lon/lat."""
    code = _epsg_code(crs)
    if code is None:
        return lambda x, y: (x, y)
    return _transformer(code).transform


def _epsg_code(crs: object) -> int | None:
    """Read the EPSG code out of a ``crs`` member (``name`` or old ``EPSG`` type); None = CRS84."""
    if crs is None:
        return None
    properties = crs.get("properties") if isinstance(crs, dict) else None
    if not isinstance(properties, dict) or crs.get("type") not in ("name", "EPSG"):
        msg = f"crs member {crs!r} is not supported: only a named EPSG code is"
        raise InvalidInputError(msg)
    name = properties.get("name") if crs.get("type") == "name" else f"EPSG:{properties.get('code')}"
    normalised = str(name).strip().lower()
    if normalised in _CRS84:
        return None
    match = _EPSG_NAME.fullmatch(normalised)
    if match is None:
        msg = f"crs {name!r} is not an EPSG code or CRS84; refusing to guess the coordinates"
        raise InvalidInputError(msg)
    return int(match[1])


@functools.lru_cache(maxsize=32)
def _transformer(code: int) -> pyproj.Transformer:
    """Build the transform to WGS84 lon/lat; ``always_xy`` keeps GeoJSON's x-first order."""
    try:
        crs = pyproj.CRS.from_epsg(code)
    except CRSError:
        msg = f"crs EPSG:{code} is unknown to PROJ"
        raise InvalidInputError(msg) from None
    if not (crs.is_geographic or crs.is_projected):
        msg = f"crs EPSG:{code} ({crs.name}) is not a horizontal coordinate system"
        raise InvalidInputError(msg)
    return pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def _collect(
    records: Iterable[tuple[int, _Raw]], parse: Callable[[_Raw], Shelter], fmt: str
) -> ShelterImport:
    """Parse every record, keeping the refused ones with their reason; the first id wins."""
    shelters: list[Shelter] = []
    rejected: list[tuple[int, str]] = []
    first_row: dict[str, int] = {}
    for number, raw in records:
        try:
            shelter = parse(raw)
        except InvalidInputError as exc:
            rejected.append((number, exc.reason))
            continue
        if shelter.id in first_row:
            rejected.append((number, f"duplicate id {shelter.id} (first: {first_row[shelter.id]})"))
            continue
        first_row[shelter.id] = number
        shelters.append(shelter)
    return ShelterImport(shelters, rejected, fmt)


def _shelter(row: _Row, layout: _Layout, location: GeoPoint) -> Shelter:
    """Map one row; pydantic's complaints become a short reason for the operator."""
    name = _text(row, layout.columns["name"])
    if not name:
        msg = "name is empty"
        raise InvalidInputError(msg)
    hazards = frozenset(hazard for hazard, key in layout.hazards.items() if _flag(row, key))
    count = _occupancy(row, layout.occupancy)
    capacity_note = _text(row, layout.columns.get("capacity"))
    try:
        return Shelter(
            id=_text(row, layout.columns.get("id")) or derive_shelter_id(name, location),
            name=name,
            location=location,
            address=_text(row, layout.columns.get("address")) or None,
            capacity=parse_capacity(capacity_note),
            capacity_note=capacity_note,
            occupancy=count or 0,
            open=count is not None,
            hazards=hazards,
            kind=_kind(row, layout, hazards),
            elevation_m=_number(row, layout.columns.get("elevation")),
            source=layout.source,
        )
    except ValidationError as exc:
        raise InvalidInputError(_reason(exc)) from None


def _kind(row: _Row, layout: _Layout, hazards: frozenset[Hazard]) -> ShelterKind:
    """Tell the designation; in an emergency-site list a row flagged for no hazard has none."""
    if layout.also is not None and _flag(row, layout.also):
        return "both"
    if layout.list_kind == "emergency_site" and not hazards:
        return "non_designated"
    return layout.list_kind


def _position_from_columns(row: _Row, layout: _Layout) -> GeoPoint:
    """Read 緯度/経度, the 推奨データセット's WGS84 (JGD2011, within centimetres) position."""
    lat = _number(row, layout.columns.get("lat"))
    lon = _number(row, layout.columns.get("lon"))
    if lat is None or lon is None:
        msg = "no position: 緯度/経度 missing or empty"
        raise InvalidInputError(msg)
    return _point(lon, lat)


def _point(lon: float, lat: float) -> GeoPoint:
    """Check a position, naming the usual mistakes: swapped axes, 0/0 fillers, metres."""
    if lat == 0 and lon == 0:
        msg = "position 0, 0 is a placeholder, not a shelter"
        raise InvalidInputError(msg)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        hint = "swapped 緯度/経度?" if -90 <= lon <= 90 else "projected metres without a crs?"
        msg = f"position lon={lon}, lat={lat} is not in degrees ({hint})"
        raise InvalidInputError(msg)
    try:
        return GeoPoint(lat=lat, lon=lon)
    except ValidationError as exc:
        raise InvalidInputError(_reason(exc)) from None


def _text(row: _Row, key: str | None) -> str:
    value = row.get(key) if key is not None else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value).strip()


def _flag(row: _Row, key: str) -> bool:
    try:
        return parse_flag(_text(row, key))
    except ValueError as exc:
        msg = f"{key}: {exc}"
        raise InvalidInputError(msg) from None


def _number(row: _Row, key: str | None) -> float | None:
    text = unicodedata.normalize("NFKC", _text(row, key)).replace(",", "")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        msg = f"{key} {text!r} is not a number"
        raise InvalidInputError(msg)
    return value


def _occupancy(row: _Row, key: str | None) -> int | None:
    """Evacuee count of an open-shelter list (blank = 0); None when the file is not such a list."""
    if key is None:
        return None
    value = _number(row, key) or 0.0
    if value < 0 or not value.is_integer():
        msg = f"{key} {value} is not a head count"
        raise InvalidInputError(msg)
    return int(value)


def _reason(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'record'}: {error['msg']}"
        for error in exc.errors()
    )
