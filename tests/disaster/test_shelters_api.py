"""Shelters through the CLI importer and the API: import, list by hazard, open and fill."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp

from disaster.services import Running
from disaster.settings import Settings
from tests.support import run_cli

NANAO = Path(__file__).resolve().parents[3] / "shared" / "data" / "shelters" / "nanao_ishikawa"


async def test_import_list_and_open_a_shelter(
    running: Running, settings: Settings, http: aiohttp.ClientSession
) -> None:
    env = {**os.environ, "DISASTER_DATABASE_URL": settings.database_url or ""}
    code, out, err = await run_cli(
        "city", "import-shelters", str(NANAO / "reference_data.csv"), env=env
    )
    assert code == 0, err
    assert "imported 112 shelters" in out
    async with http.get("/api/v1/shelters", params={"hazard": "tsunami"}) as resp:
        tsunami = await resp.json()
    assert tsunami
    assert all("tsunami" in s["hazards"] for s in tsunami)
    shelter = tsunami[0]
    url = f"/api/v1/shelters/{shelter['id']}"
    async with http.patch(url, json={"open": True, "occupancy": 12}) as resp:
        assert resp.status == 200
        assert (await resp.json())["occupancy"] == 12
    async with http.get("/api/v1/shelters", params={"open": "true"}) as resp:
        assert shelter["id"] in [s["id"] for s in await resp.json()]
    async with http.patch(url, json={"open": False, "occupancy": 3}) as resp:
        assert resp.status == 422
        assert "closed shelter" in (await resp.json())["reason"]
    async with http.patch("/api/v1/shelters/nowhere", json={"open": True}) as resp:
        assert resp.status == 404


async def test_an_unreadable_shelter_file_is_refused_with_a_reason(
    settings: Settings, tmp_path: Path
) -> None:
    bad = tmp_path / "shelters.csv"
    bad.write_text("name,lat\nfoo,bar\n")
    env = {**os.environ, "DISASTER_DATABASE_URL": settings.database_url or ""}
    code, _, err = await run_cli("city", "import-shelters", str(bad), env=env)
    assert code == 1
    assert "rejected" in err
    assert "Traceback" not in err
