"""``disaster city import FILE``: a real OSM extract becomes the city's road graph file."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from evac.city import import_osm
from evac.graph import RoadGraph, load_graph
from evac.osm import graph_from_osm
from tests.support import run_cli

OSM = Path(__file__).resolve().parents[3] / "shared" / "data" / "osm"
SHIBUYA_PBF = OSM / "map.osm.pbf"  # the smallest real extract (79 KiB): Shibuya station area
SHIBUYA_OSM_NODES = 5_057  # nodes in the file (SOURCES.md), so at most this many in the graph


def _env(state_dir: Path) -> dict[str, str]:
    """The CLI's environment: the graph goes to ``city.graph`` in a fresh state directory, and
    no database is named (``city import`` touches none, so it must not start one)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISASTER_CITY_GRAPH", "DISASTER_DATABASE_URL")}  # fmt: skip
    return env | {"DISASTER_STATE_DIR": str(state_dir)}


def _assert_same_graph(got: RoadGraph, expected: RoadGraph) -> None:
    for field in fields(RoadGraph):
        np.testing.assert_array_equal(getattr(got, field.name), getattr(expected, field.name))


async def test_import_writes_the_extract_as_the_city_graph(tmp_path: Path) -> None:
    env = _env(tmp_path / "state")
    code, out, err = await run_cli("city", "import", str(SHIBUYA_PBF), env=env)
    assert code == 0, err
    assert not (tmp_path / "state" / "pgdata").exists()  # no database started for a file
    path = tmp_path / "state" / "city.graph"
    expected = graph_from_osm(SHIBUYA_PBF)
    assert out == f"{expected.n_nodes} nodes, {expected.n_edges} edges written to {path}\n"
    graph = load_graph(path)
    assert (graph.n_nodes, graph.n_edges) == (expected.n_nodes, expected.n_edges)
    _assert_same_graph(graph, expected)
    assert 4_000 < graph.n_nodes <= SHIBUYA_OSM_NODES
    assert 2 * graph.n_nodes < graph.n_edges < 3 * graph.n_nodes  # streets, mostly two-way
    assert 35.647 < graph.node_lat.min() < graph.node_lat.max() < 35.673  # the extract's bbox
    assert 139.678 < graph.node_lon.min() < graph.node_lon.max() < 139.712


def _truncated(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


_NOT_OSM = "避難所メモ: 第一小学校 体育館\n".encode()
_NO_ROADS = b"""<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
  <node id="1" lat="35.66" lon="139.70"><tag k="amenity" v="shelter"/></node>
</osm>
"""

BAD_FILES = {
    "truncated.osm.pbf": (lambda: _truncated(SHIBUYA_PBF.read_bytes()), "PBF error"),
    "truncated.osm": (lambda: _truncated((OSM / "shibuya.osm").read_bytes()), "XML parsing"),
    "notes.osm": (lambda: _NOT_OSM, "XML parsing error"),
    "no_roads.osm": (lambda: _NO_ROADS, "no roads in"),
    "roads.csv": (lambda: b"from,to\n1,2\n", "unsupported OSM file type"),
}


@pytest.mark.parametrize("name", BAD_FILES)
async def test_a_bad_file_is_rejected_in_one_line_and_the_city_is_kept(
    name: str, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    kept = import_osm(SHIBUYA_PBF, state / "city.graph")  # the city imported before
    before = (state / "city.graph").read_bytes()
    content, reason = BAD_FILES[name]
    bad = tmp_path / name
    bad.write_bytes(content())
    code, out, err = await run_cli("city", "import", str(bad), env=_env(state))
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.startswith(f"disaster: {bad} is rejected: ")
    assert reason in err
    assert (state / "city.graph").read_bytes() == before
    _assert_same_graph(load_graph(state / "city.graph"), kept)
