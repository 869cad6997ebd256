"""Importing shelters from every real sample, its encodings and CRS, and from broken files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyproj
import pytest

from disaster.domain import GeoPoint, InvalidInputError
from disaster.domain.geo import distance_m
from disaster.domain.shelter import Shelter, derive_shelter_id
from evac.shelters import ShelterImport, apply_open_status, shelters_from_file

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "shelters"
NANAO = DATA / "nanao_ishikawa"
GSI = DATA / "gsi_jp-shelter-api"
REFERENCE = NANAO / "reference_data.csv"
OPEN_0109 = NANAO / "open_shelter_Nanao-shi_2024-01-09-1800.csv"
OPEN_0831 = NANAO / "open_shelter_Nanao-shi_2024-08-31-1300.csv"
OPEN_GEOJSON = NANAO / "open_shelter_Nanao-shi.geojson"
ALL_BUT_VOLCANO = {
    "flood", "landslide", "storm_surge", "earthquake", "tsunami", "fire", "inland_flood"
}  # fmt: skip
SAMPLES = sorted(p for p in DATA.rglob("*") if p.suffix in {".csv", ".json", ".geojson"})
HEADER = "ID,名称,緯度,経度,標高,災害種別_洪水,災害種別_津波,想定収容人数"

#: Counted independently below (csv / json modules) and by hand: records, not text lines —
#: reference_data.csv has 114 lines because one English name spans two.
EXPECTED = {
    "nanao_ishikawa/reference_data.csv": 112,
    "nanao_ishikawa/open_shelter_Nanao-shi_2024-01-09-1800.csv": 29,
    "nanao_ishikawa/open_shelter_Nanao-shi_2024-08-31-1300.csv": 1,
    "nanao_ishikawa/open_shelter_Nanao-shi.geojson": 1,
    "gsi_jp-shelter-api/emergency/172022.json": 109,
    "gsi_jp-shelter-api/evacuation/131130.json": 51,
    "gsi_jp-shelter-api/evacuation/172022.json": 82,
}
REFUSED = {"gsi_jp-shelter-api/emergency/131130.json": "公開されていません"}


def by_id(result: ShelterImport) -> dict[str, Shelter]:
    return {shelter.id: shelter for shelter in result.shelters}


def csv_records(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def independent_count(path: Path) -> int:
    if path.suffix == ".csv":
        return len(csv_records(path))
    return len(json.loads(path.read_text(encoding="utf-8"))["features"])


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def rounded(point: GeoPoint) -> tuple[float, float]:
    return round(point.lat, 6), round(point.lon, 6)


def test_every_sample_is_accounted_for() -> None:
    names = {path.relative_to(DATA).as_posix() for path in SAMPLES}
    assert names == set(EXPECTED) | set(REFUSED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_imports_every_record(name: str) -> None:
    result = shelters_from_file(DATA / name)
    assert result.rejected_rows == []
    assert len(result.shelters) == EXPECTED[name] == independent_count(DATA / name)
    assert len(by_id(result)) == len(result.shelters)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unavailable_stub_is_refused_with_its_reason(name: str) -> None:
    with pytest.raises(InvalidInputError, match=REFUSED[name]) as caught:
        shelters_from_file(DATA / name)
    assert "東京都渋谷区" in caught.value.reason


def test_reference_shelter_fields() -> None:
    result = shelters_from_file(REFERENCE)
    school = by_id(result)["CC0000000505"]
    assert result.source_format == "recommended-csv"
    assert school.name == "七尾中学校"
    assert rounded(school.location) == (37.03803, 136.95849)
    assert school.hazards == ALL_BUT_VOLCANO
    assert school.capacity == 1371
    assert school.capacity_note == "屋内1,371人／屋外5,470人（面積の1/2）"
    assert (school.elevation_m, school.kind, school.open, school.occupancy) == (
        3.9, "emergency_site", False, 0
    )  # fmt: skip
    assert school.address == "石川県七尾市藤橋町辰部５２－１"
    assert school.source == "recommended-csv:reference_data.csv"


def test_reference_row_with_a_two_line_cell_and_partial_hazards() -> None:
    park = by_id(shelters_from_file(REFERENCE))["CC0000000563"]
    assert park.name == "和倉温泉運動公園"
    assert rounded(park.location) == (37.08578, 136.92949)
    assert park.hazards == {"flood", "landslide", "earthquake", "fire", "inland_flood"}
    assert park.capacity == 88


def test_reference_counts_per_kind_and_capacity() -> None:
    shelters = shelters_from_file(REFERENCE).shelters
    undesignated = sorted(s.id for s in shelters if s.kind == "non_designated")
    assert undesignated == ["NEW001", "NEW002", "NEW003"]
    assert all(s.hazards for s in shelters if s.kind == "emergency_site")
    assert [s.id for s in shelters if s.capacity is None] == undesignated
    assert sum(s.capacity == 0 for s in shelters) == 30  # "屋内0人": open-air sites
    assert not any("volcano" in s.hazards for s in shelters)  # 火山現象 is blank in every row


def test_hazard_counts_match_the_flag_columns() -> None:
    rows = csv_records(REFERENCE)
    shelters = shelters_from_file(REFERENCE).shelters
    for hazard, column in [("flood", "災害種別_洪水"), ("tsunami", "災害種別_津波")]:
        assert sum(hazard in s.hazards for s in shelters) == sum(r[column] == "1.0" for r in rows)


def test_open_list_marks_every_row_open_with_its_evacuees() -> None:
    rows = csv_records(OPEN_0109)
    result = by_id(shelters_from_file(OPEN_0109))
    assert all(shelter.open for shelter in result.values())
    total = sum(int(row["人数_令和6年1月9日午後6時時点"]) for row in rows)
    assert sum(shelter.occupancy for shelter in result.values()) == total == 1886
    assert (result["CC0000000518"].name, result["CC0000000518"].occupancy) == ("山王小学校", 180)
    assert result["CC0000000518"].capacity == 480
    ad_hoc = result["NEW001"]
    assert (ad_hoc.name, ad_hoc.kind, ad_hoc.occupancy, ad_hoc.capacity) == (
        "寄合い処みそぎ", "non_designated", 40, None
    )  # fmt: skip


def test_open_status_laid_over_the_designated_list() -> None:
    designated = shelters_from_file(REFERENCE).shelters
    merged = apply_open_status(designated, shelters_from_file(OPEN_0109).shelters)
    assert [s.id for s in merged] == [s.id for s in designated]
    assert sum(s.open for s in merged) == 29
    assert sum(s.occupancy for s in merged) == 1886
    later = by_id(ShelterImport(apply_open_status(merged, shelters_from_file(OPEN_0831).shelters)))
    assert [s.id for s in later.values() if s.open] == ["CC0000000537"]
    assert later["CC0000000537"].occupancy == 40
    assert later["CC0000000518"].occupancy == 0


def test_open_site_missing_from_the_designated_list_is_kept() -> None:
    designated = [s for s in shelters_from_file(REFERENCE).shelters if s.id != "NEW001"]
    merged = by_id(
        ShelterImport(apply_open_status(designated, shelters_from_file(OPEN_0109).shelters))
    )
    assert merged["NEW001"].occupancy == 40
    assert len(merged) == 112


def test_gsi_emergency_shelter_fields() -> None:
    result = shelters_from_file(GSI / "emergency" / "172022.json")
    park = by_id(result)["E1720200001201"]
    assert result.source_format == "gsi-geojson"
    assert park.name == "つつじが浜児童公園"
    assert rounded(park.location) == (37.05418, 136.959657)
    assert park.hazards == {"flood", "landslide", "earthquake", "fire", "inland_flood"}
    assert (park.capacity, park.capacity_note, park.kind) == (None, "", "emergency_site")
    kinds = [s.kind for s in result.shelters]
    assert (kinds.count("both"), kinds.count("emergency_site")) == (62, 47)


def test_gsi_evacuation_shelters_have_no_hazards_or_capacity() -> None:
    shibuya = by_id(shelters_from_file(GSI / "evacuation" / "131130.json"))
    school = shibuya["E1311300019111"]
    assert school.name == "神南小学校"
    assert rounded(school.location) == (35.663176, 139.697752)
    assert (school.kind, school.hazards, school.capacity) == ("evacuation_shelter", set(), None)
    nanao = shelters_from_file(GSI / "evacuation" / "172022.json").shelters
    assert sum(s.kind == "both" for s in nanao) == 62


def test_gsi_and_reference_agree_on_the_same_site() -> None:
    reference = by_id(shelters_from_file(REFERENCE))["CC0000000504"]
    gsi = by_id(shelters_from_file(GSI / "emergency" / "172022.json"))["E1720200005201"]
    assert reference.name == gsi.name == "御祓地区コミュニティセンター"
    assert reference.hazards == gsi.hazards
    assert distance_m(reference.location, gsi.location) < 10


def test_epsg_6675_geojson_lands_on_the_site() -> None:
    document = json.loads(OPEN_GEOJSON.read_text(encoding="utf-8"))
    assert document["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::6675"
    assert abs(document["features"][0]["geometry"]["coordinates"][0]) > 1000  # metres
    result = shelters_from_file(OPEN_GEOJSON)
    site = result.shelters[0]
    reference = by_id(shelters_from_file(REFERENCE))["CC0000000537"]
    assert result.source_format == "recommended-geojson"
    assert (site.id, site.name, site.open, site.occupancy) == (
        "CC0000000537", "矢田郷地区コミュニティセンター", True, 40
    )  # fmt: skip
    assert rounded(site.location) == rounded(reference.location) == (37.03364, 136.96987)
    assert 36.9 < site.location.lat < 37.2
    assert 136.8 < site.location.lon < 137.1
    assert (site.capacity, site.hazards, site.elevation_m) == (1700, ALL_BUT_VOLCANO, 14.8)


@pytest.mark.parametrize("encoding", ["cp932", "utf-8-sig", "utf-8"])
def test_encodings_import_the_same(tmp_path: Path, encoding: str) -> None:
    text = REFERENCE.read_text(encoding="utf-8-sig")
    copy = write(tmp_path, REFERENCE.name, text, encoding)
    assert shelters_from_file(copy) == shelters_from_file(REFERENCE)


def test_cp932_copy_really_is_not_utf8(tmp_path: Path) -> None:
    copy = write(tmp_path, "sjis.csv", REFERENCE.read_text(encoding="utf-8-sig"), "cp932")
    with pytest.raises(UnicodeDecodeError):
        copy.read_bytes().decode("utf-8")


def test_crlf_shift_jis_open_list(tmp_path: Path) -> None:
    text = OPEN_0831.read_text(encoding="utf-8").replace("\n", "\r\n")
    copy = write(tmp_path, OPEN_0831.name, text, "cp932")
    assert shelters_from_file(copy) == shelters_from_file(OPEN_0831)


def test_bad_rows_are_reported_and_the_rest_kept(tmp_path: Path) -> None:
    lines = [
        HEADER,
        "A1,良い学校,37.04,136.96,3.0,1,○,屋内100人",
        "A2,悪い旗,37.04,136.96,3.0,1,△,屋内100人",
        "A3,位置なし,,,3.0,1,1,",
        "A4,逆さま,136.96,37.04,,1,1,",
        "A5,列不足,37.04",
        "A1,重複,37.05,136.97,,1,,",
        "A6,ゼロ,0,0,,1,,",
        "A7,標高が文字,37.04,136.96,高い,1,,",
        ",,,,,,,",
        "A8,良い公園,37.05,136.97,,,◎,約50人",
    ]
    result = shelters_from_file(write(tmp_path, "s.csv", "\n".join(lines)))
    assert [s.id for s in result.shelters] == ["A1", "A8"]
    assert result.shelters[1].hazards == {"tsunami"}
    assert result.shelters[1].capacity == 50
    reasons = dict(result.rejected_rows)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9]
    assert "△" in reasons[3]
    assert "緯度/経度" in reasons[4]
    assert "swapped" in reasons[5]
    assert "cells" in reasons[6]
    assert "duplicate id A1" in reasons[7]
    assert "placeholder" in reasons[8]
    assert "標高" in reasons[9]


def test_row_without_id_gets_a_derived_one(tmp_path: Path) -> None:
    text = f"{HEADER}\n,名無しの広場,37.05,136.97,,1,,\n"
    site = shelters_from_file(write(tmp_path, "s.csv", text)).shelters[0]
    assert site.id == derive_shelter_id("名無しの広場", GeoPoint(lat=37.05, lon=136.97))


def test_evacuation_shelter_list_reads_the_also_column(tmp_path: Path) -> None:
    lines = [
        "ID,名称,緯度,経度,指定緊急避難場所との住所同一,想定収容人数",
        "B1,体育館,37.05,136.97,1,",
        "B2,公民館,37.06,136.97,,120人",
    ]
    text = "\n".join(lines)
    kinds = {s.id: s.kind for s in shelters_from_file(write(tmp_path, "e.csv", text)).shelters}
    assert kinds == {"B1": "both", "B2": "evacuation_shelter"}


def test_bad_open_count_rejects_only_its_row(tmp_path: Path) -> None:
    text = f"{HEADER},人数\nC1,A,37.05,136.97,,1,,,12\nC2,B,37.06,136.97,,1,,,多数\n"
    result = shelters_from_file(write(tmp_path, "o.csv", text))
    assert [(s.id, s.open, s.occupancy) for s in result.shelters] == [("C1", True, 12)]
    assert result.rejected_rows[0][0] == 3


def feature_collection(crs: object, x: float, y: float, **properties: object) -> str:
    feature = {
        "type": "Feature",
        "properties": {"名称": "矢田郷", "災害種別_津波": 1, **properties},
        "geometry": {"type": "Point", "coordinates": [x, y]},
    }
    document: dict[str, object] = {"type": "FeatureCollection", "features": [feature]}
    if crs is not None:
        document["crs"] = crs
    return json.dumps(document, ensure_ascii=False)


@pytest.mark.parametrize(
    "crs",
    [
        {"type": "name", "properties": {"name": "EPSG:6675"}},
        {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::6675"}},
        {"type": "EPSG", "properties": {"code": 6675}},
    ],
)
def test_projected_crs_forms_are_reprojected(tmp_path: Path, crs: object) -> None:
    forward = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:6675", always_xy=True)
    x, y = forward.transform(136.95849, 37.03803)
    text = feature_collection(crs, x, y, ID="X1")
    site = shelters_from_file(write(tmp_path, "p.geojson", text)).shelters[0]
    assert rounded(site.location) == (37.03803, 136.95849)


@pytest.mark.parametrize(
    "crs",
    [None, {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}],
)
def test_lon_lat_geojson_is_taken_as_is(tmp_path: Path, crs: object) -> None:
    text = feature_collection(crs, 136.95849, 37.03803)
    site = shelters_from_file(write(tmp_path, "w.geojson", text)).shelters[0]
    assert rounded(site.location) == (37.03803, 136.95849)
    assert site.id == derive_shelter_id("矢田郷", site.location)


@pytest.mark.parametrize(
    ("crs", "reason"),
    [
        ({"type": "name", "properties": {"name": "EPSG:999999"}}, "unknown to PROJ"),
        ({"type": "name", "properties": {"name": "EPSG:6695"}}, "not a horizontal"),
        ({"type": "name", "properties": {"name": "+proj=utm +zone=53"}}, "not an EPSG code"),
        ({"type": "link", "properties": {"href": "http://x/crs"}}, "not supported"),
        ("EPSG:6675", "not supported"),
    ],
)
def test_unknown_crs_is_refused(tmp_path: Path, crs: object, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        shelters_from_file(write(tmp_path, "c.geojson", feature_collection(crs, 1.0, 2.0)))


def test_geojson_bad_features_are_reported(tmp_path: Path) -> None:
    good = json.loads(feature_collection(None, 136.96, 37.04, ID="G1"))["features"][0]
    far = {**good, "properties": {**good["properties"], "ID": "G2", "緯度": 37.1, "経度": 136.96}}
    metres = {**good, "geometry": {"type": "Point", "coordinates": [-17507.7, 114708.2]}}
    line = {**good, "geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}}
    features = [good, far, metres, line, "junk", {**good, "geometry": None}]
    text = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    result = shelters_from_file(write(tmp_path, "b.geojson", text))
    assert [s.id for s in result.shelters] == ["G1"]
    reasons = dict(result.rejected_rows)
    assert "disagree" in reasons[1]
    assert "without a crs" in reasons[2]
    assert "LineString" in reasons[3]
    assert "not a GeoJSON Feature" in reasons[4]
    assert "None" in reasons[5]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"ID,\x00\x00", "NUL"),
        (b"ID,\x81 \n", "neither UTF-8 nor Shift_JIS"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
        (b"a,b,c\n1,2,3\n", "no 名称"),
        ("名称,緯度,経度\n公園,37,137\n".encode(), "cannot tell"),
        (f"名称,災害種別_洪水\n{'x' * 200_000},1\n".encode(), "unreadable CSV"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=reason):
        shelters_from_file(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read"):
        shelters_from_file(tmp_path / "absent.csv")


def test_header_only_and_empty_collection_give_no_shelters(tmp_path: Path) -> None:
    assert shelters_from_file(write(tmp_path, "h.csv", HEADER + "\n")).shelters == []
    empty = '{"type": "FeatureCollection", "features": []}'
    assert shelters_from_file(write(tmp_path, "e.geojson", empty)) == ShelterImport(
        [], [], "geojson"
    )
