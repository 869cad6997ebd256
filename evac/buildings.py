"""PLATEAU CityGML buildings (LOD0/LOD1) and hazard-zone tiles, read as a stream.

Why a stream: one PLATEAU building tile holds up to tens of thousands of buildings in hundreds
of megabytes. ``lxml.etree.iterparse`` hands over one ``core:cityObjectMember`` at a time and
each is freed once read, so memory stays flat whatever the size of the file.

Coordinates. PLATEAU writes EPSG:6697 (JGD2011 geographic + JGD2011 vertical height), axis
order **latitude, longitude, height**. We swap to longitude/latitude and drop the height. We do
not shift the datum: the operation pyproj (PROJ 9) picks from EPSG:6697 to EPSG:4326 is EPSG's
"JGD2011 to WGS 84 (1)", a null transformation of 1 m stated accuracy (both frames follow the
ITRF; they differ by centimetres), while the road graph and the residents are WGS 84 degrees
and a footprint is metres wide. The same holds for EPSG:6668 (JGD2011 2D), 6667, 4612 (JGD2000),
4326 and 4979. Any other CRS (the Tokyo datum, EPSG:4301, is 400 m off; the plane rectangular
systems 6669-6687) goes through pyproj in that CRS's own axis order. A posList whose
"latitude" is beyond ±90 was written lon-first; the building is refused with that reason.

Footprint: ``bldg:lod0FootPrint``, else ``bldg:lod0RoofEdge``, else the lowest horizontal face
of ``bldg:lod1Solid``. PLATEAU builds its LOD1 solid by extruding the LOD0 roof-edge outline
from the ground to ``measuredHeight``, so the roof edge and the solid's base are the same ring
(the tests check it on a real tile) and reading one ring costs a sixth of reading the solid.
A footprint drawn at ground level (``lod0FootPrint``) wins when a producer gives one. Of a
multi-polygon LOD0 the largest polygon is kept. Buildings with only LOD2 geometry or only
building parts are refused (PLATEAU gives every building LOD1).

Risk attributes (i-UR ``uro:buildingDisasterRiskAttribute``; the 1.x ``Building*`` element
names and the 3.x plain names both read): river, inland, high-tide and reservoir flooding
become ``FloodRisk`` records, tsunami the deepest ``uro:depth``, landslide the area type.
Code lists are not shipped with the tiles, so codes stay text: ``uro:description`` of a flood
is the river's code, not its name. ``uro:rank`` is the national depth class (1: < 0.5 m,
2: 0.5-3 m, 3: 3-5 m, 4: 5-10 m, 5: 10-20 m, 6: >= 20 m); where only ``uro:rankOrg`` (the
source's own classes) is given it is taken instead: in the real tiles we read, every rankOrg
agrees with those classes and the depth.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from lxml import etree
from shapely.geometry import MultiPolygon, Polygon

from disaster.domain import InvalidInputError

__all__ = [
    "PUBLIC_USAGE_CODES",
    "Building",
    "FloodRisk",
    "HazardZone",
    "Rejected",
    "is_public_usage",
    "iter_buildings",
    "iter_hazard_zones",
]

_log = logging.getLogger(__name__)

#: ``bldg:usage`` codes (PLATEAU Building_usage code list) of public buildings: 421 官公庁施設
#: (city hall, offices of the state) and 422 文教厚生施設 (schools, hospitals, welfare and
#: community halls). These are the buildings a municipality can open for vertical evacuation.
PUBLIC_USAGE_CODES: frozenset[str] = frozenset({"421", "422"})

_CITYGML_NS = "http://www.opengis.net/citygml/"
_SAFE_PARSER: dict[str, Any] = {"resolve_entities": False, "no_network": True}
_MEMBERS = ("{*}cityObjectMember", "{*}featureMember")
_SAME_AS_WGS84 = frozenset({4326, 4612, 4979, 6667, 6668, 6697})  # lat, lon axis order
_THREE_D = frozenset({4979, 6667, 6697})
_UNKNOWN_STOREYS = 9999  # PLATEAU's "not surveyed"
_FLOOD_KINDS = {
    "RiverFloodingRiskAttribute": "river",
    "InlandFloodingRiskAttribute": "inland",
    "HighTideRiskAttribute": "high_tide",
    "ReservoirFloodingRiskAttribute": "reservoir",
}
_SCALES = {"1": "L1", "2": "L2", "L1": "L1", "L2": "L2", "計画規模": "L1", "想定最大規模": "L2"}
_RANK_LABELS = {
    "0.5m未満": 1, "0.5m以上3m未満": 2, "3m以上5m未満": 3, "5m以上10m未満": 4,
    "10m以上20m未満": 5, "20m以上": 6,
}  # fmt: skip
_FILE_SCALE = re.compile(r"_(l[12])(?:_|\.)", re.IGNORECASE)
_EPSG_CODE = re.compile(r"EPSG(?:/[\d.]+/|:[\d.]*:|:)(\d+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FloodRisk:
    """One expected flood at a building (a building has one per river, scale and kind).

    Attributes
    ----------
    river
        ``uro:description``: the river's code in the tile's code list (names are not shipped).
    rank
        Depth class 1-6 (see the module docstring), None if not given.
    depth_m
        Expected depth in metres, None if not given.
    scale
        "L1" (計画規模, the planned-scale rain) or "L2" (想定最大規模, the largest conceivable),
        else the raw text, None if not given.
    kind
        "river", "inland" (内水), "high_tide" (高潮) or "reservoir" (ため池).
    """

    river: str | None
    rank: int | None
    depth_m: float | None
    scale: str | None
    kind: str = "river"


@dataclass(frozen=True, slots=True)
class Building:
    """One building of the city model.

    Attributes
    ----------
    id
        ``gml:id``.
    footprint
        Outline in longitude/latitude degrees (WGS 84), exterior counter-clockwise.
    height_m
        ``bldg:measuredHeight`` in metres, None if absent or not positive.
    storeys
        ``bldg:storeysAboveGround``, None if absent or PLATEAU's 9999 (unknown).
    usage
        ``bldg:usage`` code as text (see ``PUBLIC_USAGE_CODES``).
    flood_risks
        Expected floods, in file order.
    landslide_risk
        None outside landslide zones, else the area type code ("1" 土砂災害警戒区域,
        "2" 特別警戒区域), or the description where no area type is given.
    tsunami_depth_m
        Deepest expected tsunami inundation in metres, None if none is given.
    source
        File name the building was read from.
    name
        ``gml:name``, if any.
    """

    id: str
    footprint: Polygon
    height_m: float | None
    storeys: int | None
    usage: str | None
    flood_risks: tuple[FloodRisk, ...] = ()
    landslide_risk: str | None = None
    tsunami_depth_m: float | None = None
    source: str = ""
    name: str | None = None

    @property
    def flood_depth_m(self) -> float | None:
        """The deepest expected flood over all flood risks (any scale), metres."""
        depths = [r.depth_m for r in self.flood_risks if r.depth_m is not None]
        return max(depths) if depths else None

    @property
    def flood_rank(self) -> int | None:
        """The highest depth class over all flood risks."""
        ranks = [r.rank for r in self.flood_risks if r.rank is not None]
        return max(ranks) if ranks else None

    @property
    def public(self) -> bool:
        """Whether the usage code is a public building's (a possible refuge)."""
        return is_public_usage(self.usage)


@dataclass(frozen=True, slots=True)
class HazardZone:
    """One polygon set of a flood, tsunami or landslide tile.

    Attributes
    ----------
    id
        ``gml:id``.
    kind
        "river", "inland", "high_tide", "reservoir", "tsunami" or "landslide".
    area
        The zone in longitude/latitude degrees.
    rank
        Depth class (``uro:rank``, else ``uro:rankOrg``) of a flood or tsunami zone.
    scale
        "L1"/"L2" of a river flood zone (``uro:scale``, else the file name's ``_l1``/``_l2``).
    description
        The river's code (floods) or the disaster type code (landslide: 1 急傾斜地の崩壊,
        2 土石流, 3 地すべり).
    area_type
        Landslide only: "1" 土砂災害警戒区域, "2" 土砂災害特別警戒区域.
    source
        File name.
    """

    id: str
    kind: str
    area: MultiPolygon
    rank: int | None
    scale: str | None
    description: str | None
    area_type: str | None
    source: str


class Rejected(NamedTuple):
    """A feature that was skipped, and why (the rest of the file is still read)."""

    source: str
    line: int | None
    id: str | None
    reason: str


def is_public_usage(usage: str | None) -> bool:
    """Whether a ``bldg:usage`` code is one of ``PUBLIC_USAGE_CODES``."""
    return usage is not None and usage.strip() in PUBLIC_USAGE_CODES


def iter_buildings(
    path: Path | str, *, on_reject: Callable[[Rejected], None] | None = None
) -> Iterator[Building]:
    """Yield the buildings of a CityGML file, or of every ``*.gml`` in a folder (by name).

    A building that cannot be read (no geometry, a bad number) is passed to ``on_reject``
    (default: logged) and the rest are still yielded; tiles without buildings (flood zones)
    yield nothing.

    Raises
    ------
    InvalidInputError
        The file is not XML or not a CityGML ``CityModel``, the folder holds no ``.gml``;
        raised when reached, so earlier files' buildings have been yielded.
    """
    report = on_reject or _log_rejection
    for file in _gml_files(Path(path)):
        for feature, crs in _features(file, ("Building",)):
            try:
                building = _building(feature, crs or _crs_of(feature, None), file.name)
            except _Skip as skip:
                report(Rejected(file.name, feature.sourceline, _gml_id(feature), str(skip)))
                continue
            yield building


def iter_hazard_zones(
    path: Path | str, *, on_reject: Callable[[Rejected], None] | None = None
) -> Iterator[HazardZone]:
    """Yield the zones of flood (fld), tsunami (tnm) and landslide (lsld) tiles.

    Same streaming and errors as ``iter_buildings``; other features are skipped.
    """
    report = on_reject or _log_rejection
    for file in _gml_files(Path(path)):
        for feature, crs in _features(file, ("WaterBody", "SedimentDisasterProneArea")):
            try:
                zone = _zone(feature, crs or _crs_of(feature, None), file.name)
            except _Skip as skip:
                report(Rejected(file.name, feature.sourceline, _gml_id(feature), str(skip)))
                continue
            if zone is not None:
                yield zone


# --- the stream ------------------------------------------------------------------------------


class _Skip(Exception):  # noqa: N818 - a control-flow signal, not an error of the caller
    """One feature cannot be read; its message is the reason."""


@dataclass(frozen=True, slots=True)
class _Crs:
    """A coordinate system as far as reading posLists needs: EPSG code and dimension."""

    epsg: int | None  # None: lon/lat already (OGC CRS84)
    dim: int


def _log_rejection(rejected: Rejected) -> None:
    _log.warning("%s line %s: %s skipped: %s", *rejected)


def _gml_files(path: Path) -> list[Path]:
    """Return ``path`` itself, or the ``*.gml`` files of a folder in name order."""
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".gml" and p.is_file())
    if not files:
        msg = f"{path} holds no .gml file"
        raise InvalidInputError(msg)
    return files


def _local(tag: str) -> str:
    return tag[tag.rfind("}") + 1 :]


def _check_root(path: Path) -> None:
    """Refuse anything but a CityGML CityModel, reading only the file's first bytes."""
    try:
        with path.open("rb") as f:
            _, root = next(etree.iterparse(f, events=("start",), **_SAFE_PARSER))
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror}"
        raise InvalidInputError(msg) from None
    except etree.XMLSyntaxError as exc:
        msg = f"{path.name} line {exc.lineno}: not well-formed XML: {exc.msg}"
        raise InvalidInputError(msg) from None
    namespace = root.tag[1 : root.tag.find("}")] if root.tag.startswith("{") else ""
    if _local(root.tag) != "CityModel" or not namespace.startswith(_CITYGML_NS):
        msg = (f"{path.name} line {root.sourceline}: root element <{root.tag}> is not a "
               "CityGML core:CityModel")  # fmt: skip
        raise InvalidInputError(msg)


def _features(path: Path, wanted: tuple[str, ...]) -> Iterator[tuple[etree._Element, _Crs | None]]:
    """Yield each wanted top-level feature (by local name) with the file's CRS, if declared.

    Each ``cityObjectMember`` is complete when its end event arrives; it is cleared and
    dropped from the root after its features are handed over, so the tree never grows.
    """
    _check_root(path)
    crs: _Crs | None = None
    with path.open("rb") as f:
        events = etree.iterparse(f, events=("end",), tag=("{*}Envelope", *_MEMBERS),
                                 **_SAFE_PARSER)  # fmt: skip
        try:
            for _, elem in events:
                if _local(elem.tag) == "Envelope":
                    crs = crs or _envelope_crs(elem, path)
                    continue
                for feature in elem.iterchildren(tag=etree.Element):
                    if _local(feature.tag) in wanted:
                        yield feature, crs
                _free(elem)
        except etree.XMLSyntaxError as exc:
            msg = f"{path.name} line {exc.lineno}: not well-formed XML: {exc.msg}"
            raise InvalidInputError(msg) from None


def _envelope_crs(envelope: etree._Element, path: Path) -> _Crs | None:
    """Return the file's CRS from its envelope; an unusable one refuses the file."""
    if envelope.get("srsName") is None:
        return None
    try:
        return _crs_of(envelope, None)
    except _Skip as skip:
        msg = f"{path.name} line {envelope.sourceline}: {skip}"
        raise InvalidInputError(msg) from None


def _free(elem: etree._Element) -> None:
    """Drop a read member and everything before it from the tree under construction."""
    elem.clear(keep_tail=False)
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def _crs_of(elem: etree._Element, default: _Crs | None) -> _Crs:
    """Return the CRS an element declares (``srsName``, ``srsDimension``), else ``default``.

    A feature in a file without an envelope is searched for its first ``srsName``.
    """
    name = elem.get("srsName")
    if name is None and default is None:
        found = next((e for e in elem.iter(tag=etree.Element) if e.get("srsName")), None)
        if found is None:
            msg = "no srsName: the coordinate system is unknown"
            raise _Skip(msg)
        return _crs_of(found, None)
    dim = _dimension(elem)
    if name is None:
        assert default is not None
        return default if dim is None else _Crs(default.epsg, dim)
    codes = [int(c) for c in _EPSG_CODE.findall(name)]
    if "CRS84" in name.upper():
        return _Crs(None, dim or 2)
    if not codes:
        msg = f"coordinate system {name!r} is not an EPSG code"
        raise _Skip(msg)
    # a compound URN (crs:EPSG::6668,crs:EPSG::6695) lists the horizontal system first
    return _Crs(codes[0], dim or (3 if len(codes) > 1 or codes[0] in _THREE_D else 2))


def _dimension(elem: etree._Element) -> int | None:
    text = elem.get("srsDimension")
    if text is None:
        return None
    if text.strip() not in ("2", "3"):
        msg = f"line {elem.sourceline}: srsDimension {text!r} is not 2 or 3"
        raise _Skip(msg)
    return int(text)


def _gml_id(elem: etree._Element) -> str | None:
    return next((v for k, v in elem.attrib.items() if _local(k) == "id"), None)


# --- geometry --------------------------------------------------------------------------------


def _positions(ring: etree._Element, crs: _Crs) -> npt.NDArray[np.float64]:
    """Return a ring's positions as an (n, dim) array in the CRS's axis order."""
    pos_list = ring.find("{*}posList")
    dim = crs.dim
    if pos_list is not None:
        text = pos_list.text or ""
        dim = _dimension(pos_list) or dim
    else:
        text = " ".join(p.text or "" for p in ring.iterfind("{*}pos"))
    try:
        values = np.array(text.split(), dtype=np.float64)
    except ValueError:
        msg = f"line {ring.sourceline}: a posList holds something other than numbers"
        raise _Skip(msg) from None
    if values.shape[0] % dim or values.shape[0] < 4 * dim:
        msg = f"line {ring.sourceline}: {values.shape[0]} numbers are not a ring of {dim}D points"
        raise _Skip(msg)
    return values.reshape(-1, dim)


def _to_lonlat(xy: npt.NDArray[np.float64], crs: _Crs) -> npt.NDArray[np.float64]:
    """Return (n, 2) longitude/latitude from the first two axes of positions."""
    if crs.epsg is None:
        lonlat = xy[:, :2].copy()
    elif crs.epsg in _SAME_AS_WGS84:
        lonlat = xy[:, 1::-1].copy()
    else:
        lat, lon = _transformer(crs.epsg).transform(xy[:, 0], xy[:, 1])
        lonlat = np.column_stack([lon, lat])
    lon_max, lat_max = np.abs(lonlat).max(axis=0).tolist()
    if not (lat_max <= 90.0 and lon_max <= 180.0):  # NaN fails too
        msg = (f"latitude {lat_max:.6g} is outside ±90: the posList must be latitude first "
               f"(EPSG:{crs.epsg} axis order)")  # fmt: skip
        raise _Skip(msg)
    return lonlat


@functools.cache
def _transformer(epsg: int) -> Any:
    """Return a pyproj transformer from ``epsg`` (its own axis order) to WGS 84 lat, lon."""
    from pyproj import CRS, Transformer  # noqa: PLC0415 - only for uncommon systems

    source = CRS.from_epsg(epsg)
    if source.is_compound:
        source = source.sub_crs_list[0]
    return Transformer.from_crs(source, CRS.from_epsg(4326))


def _polygon(shell: npt.NDArray[np.float64], holes: list[npt.NDArray[np.float64]]) -> Polygon:
    """Return a polygon with a counter-clockwise shell and clockwise holes (GeoJSON's rule)."""
    rings = [_oriented(shell, ccw=True), *(_oriented(h, ccw=False) for h in holes)]
    return Polygon(rings[0], rings[1:])


def _oriented(ring: npt.NDArray[np.float64], *, ccw: bool) -> npt.NDArray[np.float64]:
    x, y = ring[:, 0], ring[:, 1]
    twice_area = float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))
    return ring if (twice_area > 0) == ccw else ring[::-1]


def _polygons(
    prop: etree._Element, crs: _Crs, *, heights: bool = False
) -> list[tuple[Polygon, float]]:
    """Return every gml:Polygon under a geometry property.

    With ``heights``, each comes with its height if it is horizontal (within 1 cm), else inf.
    """
    crs = _crs_of(next(prop.iterchildren(tag=etree.Element), prop), crs)
    out = []
    for poly in prop.iter("{*}Polygon"):
        exterior = poly.find("{*}exterior/{*}LinearRing")
        if exterior is None:
            continue
        shell = _positions(exterior, crs)
        holes = [_positions(r, crs) for r in poly.iterfind("{*}interior/{*}LinearRing")]
        flat = [_to_lonlat(r, crs) for r in (shell, *holes)]
        low = high = 0.0
        if heights and shell.shape[1] > 2:
            low, high = float(shell[:, 2].min()), float(shell[:, 2].max())
        out.append((_polygon(flat[0], flat[1:]), low if high - low < 0.01 else math.inf))
    return out


def _footprint(props: dict[str, etree._Element], crs: _Crs) -> Polygon:
    """Return the outline (see the module docstring for the order of preference)."""
    for name in ("lod0FootPrint", "lod0RoofEdge"):
        if name in props:
            found = [p for p, _ in _polygons(props[name], crs) if p.area > 0]
            if found:
                return max(found, key=lambda p: p.area)
    if "lod1Solid" in props:
        faces = [(p, z) for p, z in _polygons(props["lod1Solid"], crs, heights=True) if p.area > 0]
        lowest = min((z for _, z in faces), default=math.inf)
        if math.isfinite(lowest):
            return max((p for p, z in faces if z - lowest < 0.01), key=lambda p: p.area)
    msg = "no LOD0 footprint/roof edge or LOD1 solid with a horizontal base"
    raise _Skip(msg)


# --- attributes ------------------------------------------------------------------------------


def _text(elem: etree._Element | None) -> str | None:
    text = None if elem is None else (elem.text or "").strip()
    return text or None


def _number(elem: etree._Element | None) -> float | None:
    text = _text(elem)
    if elem is None or text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        msg = f"line {elem.sourceline}: <{_local(elem.tag)}> {text!r} is not a number"
        raise _Skip(msg) from None
    return value if math.isfinite(value) else None


def _rank(record: dict[str, etree._Element]) -> int | None:
    text = _text(record.get("rank")) or _text(record.get("rankOrg"))
    if text is None:
        return None
    return int(text) if text.isdigit() else _RANK_LABELS.get(text.replace(" ", ""))


def _risk_kind(tag: str) -> str:
    """Return the kind of a risk record from its element name, Building/WaterBody dropped."""
    name = _local(tag).removeprefix("Building").removeprefix("WaterBody")
    if name in _FLOOD_KINDS:
        return _FLOOD_KINDS[name]
    return {"TsunamiRiskAttribute": "tsunami", "LandSlideRiskAttribute": "landslide"}.get(name, "")


def _risks(
    wrappers: list[etree._Element],
) -> tuple[list[FloodRisk], float | None, str | None]:
    """Return the flood risks, deepest tsunami and landslide area type of a building."""
    floods: list[FloodRisk] = []
    tsunami: list[float] = []
    landslide: str | None = None
    for wrapper in wrappers:
        for rec in wrapper.iterchildren(tag=etree.Element):
            kind = _risk_kind(rec.tag)
            fields = {_local(c.tag): c for c in rec.iterchildren(tag=etree.Element)}
            depth = _number(fields.get("depth"))
            if kind == "tsunami":
                tsunami.extend([] if depth is None else [depth])
            elif kind == "landslide":
                landslide = _text(fields.get("areaType")) or _text(fields.get("description"))
                landslide = landslide or "unknown"
            elif kind:
                scale = _text(fields.get("scale"))
                floods.append(FloodRisk(_text(fields.get("description")), _rank(fields),
                                        depth, _SCALES.get(scale or "", scale), kind))  # fmt: skip
    return floods, (max(tsunami) if tsunami else None), landslide


_RISK_WRAPPERS = frozenset({"buildingDisasterRiskAttribute", "floodingRiskAttribute"})


def _building(elem: etree._Element, crs: _Crs, source: str) -> Building:
    """Read one bldg:Building (its direct children only: no parts, no LOD2)."""
    building_id = _gml_id(elem)
    if not building_id:
        msg = "bldg:Building without gml:id"
        raise _Skip(msg)
    props: dict[str, etree._Element] = {}
    wrappers = []
    for child in elem.iterchildren(tag=etree.Element):
        name = _local(child.tag)
        if name in _RISK_WRAPPERS:
            wrappers.append(child)
        else:
            props.setdefault(name, child)
    height = _number(props.get("measuredHeight"))
    storeys = _number(props.get("storeysAboveGround"))
    floods, tsunami, landslide = _risks(wrappers)
    return Building(
        id=building_id,
        footprint=_footprint(props, crs),
        height_m=height if height is not None and height > 0 else None,
        storeys=int(storeys) if storeys is not None and 0 <= storeys < _UNKNOWN_STOREYS else None,
        usage=_text(props.get("usage")),
        flood_risks=tuple(floods),
        landslide_risk=landslide,
        tsunami_depth_m=tsunami,
        source=source,
        name=_text(props.get("name")),
    )


def _zone(elem: etree._Element, crs: _Crs, source: str) -> HazardZone | None:
    """Read one WaterBody with a risk attribute or one SedimentDisasterProneArea."""
    props = {_local(c.tag): c for c in elem.iterchildren(tag=etree.Element)}
    geometry = next((v for k, v in props.items() if k.startswith("lod")), None)
    landslide = _local(elem.tag) == "SedimentDisasterProneArea"
    risk = props.get("floodingRiskAttribute")
    record = None if risk is None else next(risk.iterchildren(tag=etree.Element), None)
    if geometry is None or (record is None and not landslide):
        return None  # an ordinary water body: not a hazard zone
    area = MultiPolygon([p for p, _ in _polygons(geometry, crs) if p.area > 0])
    zone_id = _gml_id(elem) or ""
    if landslide:
        return HazardZone(zone_id, "landslide", area, None, None, _text(props.get("disasterType")),
                          _text(props.get("areaType")), source)  # fmt: skip
    assert record is not None
    fields = {_local(c.tag): c for c in record.iterchildren(tag=etree.Element)}
    scale = _text(fields.get("scale"))
    from_name = _FILE_SCALE.search(source)
    scale = _SCALES.get(scale or "", scale) or (from_name[1].upper() if from_name else None)
    kind = _risk_kind(record.tag) or "unknown"
    return HazardZone(zone_id, kind, area, _rank(fields), scale if kind == "river" else None,
                      _text(fields.get("description")), None, source)  # fmt: skip
