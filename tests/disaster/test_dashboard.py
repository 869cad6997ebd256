"""HQ's dashboard: its files over HTTP, then the page in Debian's Chromium against the running
service: an operator logs in, sees an incident appear, draws an area, previews, issues, and
cancels, and a resident's page shows both; a viewer cannot issue; the 3D layer draws the
city model's buildings by height, flood depth and damage.

Screenshots of the dashboard are written to ``build/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import pytest
import shapely
from playwright.async_api import Browser, Page, Playwright, async_playwright, expect

from disaster import building_store, dashboard_page
from disaster.services import Running
from disaster.settings import Settings
from evac.buildings import Building, FloodRisk
from tests.disaster.test_resident_page import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM, _InlineCode
from tests.support import browser_session, load_town, new_operator, wait_until

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
WAIT_MS = 30_000
VIEWPORT = {"width": 1440, "height": 900}
FILES = {
    "/dashboard/": "text/html",
    "/dashboard/app.js": "text/javascript",
    "/dashboard/style.css": "text/css",
    "/dashboard/trusted-types.js": "text/javascript",
    "/dashboard/vendor/maplibre-gl-csp.js": "text/javascript",
    "/dashboard/vendor/maplibre-gl-csp-worker.js": "text/javascript",
    "/dashboard/vendor/maplibre-gl.css": "text/css",
}


# --- the files over HTTP -------------------------------------------------------------------


@pytest.mark.parametrize(("path", "content_type"), FILES.items())
async def test_files_are_served_with_a_strict_policy(
    anonymous: aiohttp.ClientSession, path: str, content_type: str
) -> None:
    async with anonymous.get(path) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == content_type
        policy = resp.headers["Content-Security-Policy"]
        etag = resp.headers["ETag"]
    assert policy == dashboard_page.CONTENT_SECURITY_POLICY
    assert not re.search(r"unsafe|https?:|\*|blob:", policy)
    assert [d for d in policy.split("; ") if "data:" in d] == ["img-src 'self' data:"]
    assert "require-trusted-types-for 'script'" in policy
    async with anonymous.get(path, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304


async def test_the_page_has_no_inline_code_and_nothing_else_is_served(
    anonymous: aiohttp.ClientSession,
) -> None:
    async with anonymous.get("/dashboard", allow_redirects=False) as resp:
        assert resp.status == 308
        assert resp.headers["Location"] == "/dashboard/"
    async with anonymous.get("/dashboard/") as resp:
        html = await resp.text()
    parser = _InlineCode()
    parser.feed(html)
    assert parser.found == []
    assert '<meta charset="utf-8">' in html
    for path in ("/dashboard/nope.js", "/dashboard/vendor/package.json", "/dashboard/a/b/c"):
        async with anonymous.get(path) as resp:
            assert resp.status == 404, path


# --- in the browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium fonts-noto-cjk")
    playwright: Playwright
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


def _collect_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


async def _log_in(
    browser: Browser, base: str, username: str, password: str
) -> tuple[Page, list[str]]:
    context = await browser.new_context(locale="ja-JP", viewport=VIEWPORT)
    page = await context.new_page()
    errors = _collect_errors(page)
    await page.goto(f"{base}/dashboard")
    await expect(page.locator("#login-form")).to_be_visible()
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await expect(page.locator("#board")).to_be_visible()
    ready = page.locator("body[data-ready=true]")
    await expect(ready, f"errors: {errors}").to_have_count(1, timeout=WAIT_MS)
    await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    return page, errors


async def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.wait_for_timeout(300)  # let the map finish a frame; only the picture waits
    await page.screenshot(path=SCREENSHOTS / f"dashboard-{name}.png")


async def test_an_operator_sees_an_incident_draws_issues_and_cancels(
    running: Running, settings: Settings, http: aiohttp.ClientSession, browser: Browser
) -> None:
    route = await load_town(settings, http)
    lat, lon = (float(v) for v in route["from"].split(","))
    resident = await _register_resident(http, lat, lon)
    await _register_resident(http, lat, lon)  # a neighbour: two people for one last place
    crowded = await _one_place_left(http, route)
    username, password = await new_operator(http, "operator")
    page, errors = await _log_in(browser, running.base_url, username, password)
    roads = await page.evaluate("window.dashboard.sourceData('roads').features.length")
    assert roads > 0
    await _screenshot(page, "1-logged-in")
    await _incident_appears(page, http, lat + 0.001, lon + 0.001)
    alert_id = await _draw_preview_and_issue(page, http, lat, lon, crowded)
    resident_page = await _resident_page(browser, running.base_url, resident)
    await expect(resident_page.locator(f"#alert-{alert_id}")).to_be_visible(timeout=WAIT_MS)
    await _screenshot(page, "3-issued")
    cancel_id = await _cancel(page, http, alert_id)
    await resident_page.click("#refresh")
    await expect(resident_page.locator(f"#alert-{cancel_id}")).to_contain_text(
        "取消", timeout=WAIT_MS
    )
    await page.keyboard.press("?")
    await expect(page.locator("#help-dialog")).to_be_visible()
    await page.keyboard.press("l")
    await expect(page.locator("#tab-alerts")).to_have_text(re.compile("^Alerts"))
    await _screenshot(page, "4-help-english")
    await page.keyboard.press("Escape")
    await expect(page.locator("#help-dialog")).to_be_hidden()
    assert errors == []


async def _register_resident(http: aiohttp.ClientSession, lat: float, lon: float) -> dict:
    body = {"location": {"lat": lat, "lon": lon}, "language": "ja", "needs": ["slow_walker"]}
    async with http.post("/api/v1/subscribers", json=body) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def _incident_appears(
    page: Page, http: aiohttp.ClientSession, lat: float, lon: float
) -> None:
    """An incident reported through the API is on the map and in its list within moments."""
    body = {"kind": "fire", "severity": "high", "location": {"lat": lat, "lon": lon},
            "reporter": {"role": "staff"}, "description": "住宅火災（試験）"}  # fmt: skip
    await page.keyboard.press("5")  # the incidents panel
    started = time.monotonic()
    async with http.post("/api/v1/incidents", json=body) as resp:
        assert resp.status == 202
        report_id = (await resp.json())["report_id"]
    incident_id = str(uuid.uuid5(uuid.UUID(report_id), "incident"))
    on_map = (
        "id => window.dashboard.sourceData('incidents').features.some(f => f.properties.id === id)"
    )
    await wait_until(lambda: page.evaluate(on_map, incident_id), timeout_s=5, interval_s=0.02)
    elapsed_s = time.monotonic() - started
    await expect(page.locator(f"#incident-{incident_id}")).to_contain_text("火災")
    assert elapsed_s < 5.0, f"the incident took {elapsed_s:.2f} s to reach the map"
    await _screenshot(page, "2-incident")


async def _one_place_left(http: aiohttp.ClientSession, route: dict[str, str]) -> str:
    """Fill the shelter the residents (slow walkers) would be sent to up to one place short
    of its capacity, as its staff would report; return its id."""
    query = {**route, "profile": "slow_walk"}
    shelter_id = (await _json(http, f"/api/v1/route?{urlencode(query)}"))["shelter_id"]
    shelter = await _json(http, f"/api/v1/shelters/{shelter_id}")
    body = {"open": True, "occupancy": shelter["capacity"] - 1}
    async with http.patch(f"/api/v1/shelters/{shelter_id}", json=body) as resp:
        assert resp.status == 200, await resp.text()
    return str(shelter_id)


async def _draw_preview_and_issue(
    page: Page, http: aiohttp.ClientSession, lat: float, lon: float, crowded: str
) -> str:
    """Draw a square around the residents' homes, preview its reach and where the solver
    would send them (the crowded shelter flagged), and issue level 4 for slow walkers."""
    await page.keyboard.press("1")
    await page.keyboard.press("d")
    box = await page.locator("#map").bounding_box()
    assert box is not None
    half = 0.002
    for dlon, dlat in ((-half, -half), (half, -half), (half, half), (-half, half)):
        at = await page.evaluate("([lon, lat]) => window.dashboard.project(lon, lat)",
                                 [lon + dlon, lat + dlat])  # fmt: skip
        await page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
    await page.keyboard.press("Enter")
    await expect(page.locator("#draft-dialog")).to_be_visible()
    await page.fill("#draft-area-name", "試験町一丁目")
    await page.check("#draft-profiles input[value=slow_walk]")  # the residents are slow walkers
    await page.click("#draft-preview-button")
    count = page.locator("#preview-residents")
    await expect(count).to_have_text(re.compile(r"^[1-9]\d*$"), timeout=WAIT_MS)
    drafts = await _json(http, "/api/v1/alerts/drafts")
    draft = next(d for d in drafts if d["area_name"] == "試験町一丁目")
    assert draft["profiles"] == ["slow_walk"]
    preview = await _json(http, f"/api/v1/alerts/{draft['id']}/preview")
    await expect(count).to_have_text(str(preview["residents"]))
    await expect(page.locator("#preview-vulnerable")).to_have_text(str(preview["vulnerable"]))
    await _shelters_previewed(page, preview, crowded)
    await _screenshot(page, "2b-preview")
    await page.click("#draft-issue")
    await expect(page.locator("#draft-dialog")).to_be_hidden()
    card = page.locator(f"#alert-{draft['id']}")
    await expect(card).to_have_attribute("data-state", "issued", timeout=WAIT_MS)
    await expect(card.locator(".level")).to_contain_text("避難指示")
    await expect(card.locator(".profiles")).to_contain_text("避難に時間のかかる方")
    await expect(card.locator("[data-count=delivered] b")).to_have_text(
        re.compile(r"^[1-9]"), timeout=WAIT_MS
    )
    return str(draft["id"])


async def _shelters_previewed(page: Page, preview: dict[str, Any], crowded: str) -> None:
    """The dialog lists the shelters the API names, with their counts; over capacity in red."""
    shelters = preview["shelters"]
    assert crowded in [s["id"] for s in shelters if s["over_capacity"]], shelters
    rows = page.locator("#preview-shelters li[data-shelter]")
    await expect(rows.locator(".name")).to_have_text([s["name"] for s in shelters])
    for s in shelters:
        row = rows.locator(f'xpath=self::*[@data-shelter="{s["id"]}"]')
        await expect(row).to_contain_text(f"{s['residents']} 人")
        await expect(row).to_contain_text(f"{s['occupancy']}/{s['capacity']}")
        if s["over_capacity"]:
            await expect(row).to_have_class("over")
            await expect(row).to_contain_text("定員超過")
            colour = await row.evaluate("el => getComputedStyle(el).color")
            assert colour == "rgb(200, 30, 30)"
        else:
            await expect(row).not_to_contain_text("定員超過")
    no_shelter = page.locator("#preview-no-shelter b")
    await expect(no_shelter).to_have_text(str(preview["no_shelter"]))


async def _json(http: aiohttp.ClientSession, path: str) -> Any:
    async with http.get(path) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _resident_page(browser: Browser, base: str, resident: dict) -> Page:
    """The resident's own page, signed in with the credentials registration gave."""
    context = await browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 800})
    creds = {"id": resident["id"], "token": resident["token"]}
    stored = json.dumps(json.dumps(creds))
    await context.add_init_script(f"localStorage.setItem('disaster.resident', {stored})")
    page = await context.new_page()
    await page.goto(f"{base}/resident/")
    return page


async def _cancel(page: Page, http: aiohttp.ClientSession, alert_id: str) -> str:
    """Cancel with the two-click confirmation; return the Cancel version's id."""
    button = page.locator(f"#alert-{alert_id} button.cancel")
    await button.click()
    await expect(button).to_have_class(re.compile("armed"))
    await button.click()
    await expect(page.locator(f"#alert-{alert_id}")).to_have_count(0, timeout=WAIT_MS)
    versions = await _json(http, f"/api/v1/alerts/{alert_id}/versions")
    cancel = versions[-1]
    assert cancel["msg_type"] == "Cancel"
    await expect(page.locator(f"#alert-{cancel['id']}")).to_have_attribute(
        "data-state", "cancelled"
    )
    return str(cancel["id"])


async def test_a_viewer_sees_no_controls_and_the_api_refuses_them(
    running: Running, settings: Settings, http: aiohttp.ClientSession, browser: Browser
) -> None:
    await load_town(settings, http)
    username, password = await new_operator(http, "viewer")
    page, errors = await _log_in(browser, running.base_url, username, password)
    await expect(page.locator("#draft-start")).to_be_hidden()
    await expect(page.locator("#draft-codes-start")).to_be_hidden()
    await page.keyboard.press("d")  # the shortcut does nothing for a viewer
    await expect(page.locator("body")).not_to_have_class(re.compile("drawing"))
    await page.keyboard.press("6")
    await expect(page.locator("#shelter-list li").first).to_be_visible()
    await expect(page.locator("#shelter-list .actions")).to_have_count(0)
    await page.keyboard.press("b")  # 3D buildings: drawn when the city model is loaded
    await expect(page.locator("#buildings-toggle")).to_have_attribute("aria-pressed", "true")
    await _screenshot(page, "5-viewer")
    async with browser_session(running.base_url) as session:
        login = {"username": username, "password": password}
        async with session.post("/api/v1/auth/login", json=login) as resp:
            csrf = {"X-CSRF-Token": (await resp.json())["csrf_token"]}
        draft = {"level": 4, "hazard": "flood", "area_name": "x", "area_codes": ["13101"],
                 "headline": {"ja": "x"}}  # fmt: skip
        async with session.post("/api/v1/alerts/drafts", json=draft, headers=csrf) as resp:
            assert resp.status == 403
            assert "operator" in (await resp.json())["reason"]
        some_id = uuid.uuid4()
        for step in ("approve", "issue", "cancel"):
            async with session.post(f"/api/v1/alerts/{some_id}/{step}", json={},
                                    headers=csrf) as resp:  # fmt: skip
                assert resp.status == 403, step
    assert errors == []


# --- the 3D city layer ---------------------------------------------------------------------

_M = 1 / 111_195.0  # degrees of latitude per metre
_SOURCE_HOLDS = """ids => {
    const map = window.dashboard.map();
    if (!map.isSourceLoaded('buildings')) return false;
    const found = new Set(map.querySourceFeatures('buildings').map(f => f.properties.id));
    return ids.every(id => found.has(id));
}"""
_TILTED = """() => {
    const map = window.dashboard.map();
    return Math.round(map.getPitch()) === 55 && !map.isMoving();
}"""
_RENDERED = """() => window.dashboard.map()
    .queryRenderedFeatures({layers: ['buildings-3d']}).map(f => f.properties.id)"""
_SOURCE_DATA = """async () => {
    const map = window.dashboard.map();
    const data = await map.getSource('buildings').getData();
    return {
        features: data.features.map(f => ({id: f.properties.id, height: f.properties.height,
            depth_m: f.properties.depth_m, damage: f.properties.damage,
            colour: f.properties.colour, geometry: f.geometry})),
        visibility: map.getLayoutProperty('buildings-3d', 'visibility'),
        layerSource: map.getLayer('buildings-3d').source,
        type: map.getLayer('buildings-3d').type,
    };
}"""


async def test_the_3d_layer_shows_the_city_models_buildings_with_depth_and_damage(
    running: Running, settings: Settings, http: aiohttp.ClientSession, pool: asyncpg.Pool,
    browser: Browser,
) -> None:  # fmt: skip
    route = await load_town(settings, http)
    lat, lon = (float(v) for v in route["from"].split(","))
    lat -= 0.003  # inside the town, 300 m clear of the other test's incident
    depth = FloodRisk(river="新川", rank=2, depth_m=2.4, scale="L2")
    tower = _town_building(lon, lat, 0, height_m=45.0, storeys=12, usage="401")
    flooded = _town_building(lon, lat, 70, height_m=9.0, storeys=2, flood_risks=(depth,))
    burning = _town_building(lon, lat, 140, height_m=15.0, storeys=5)
    async with pool.acquire() as conn:
        await building_store.upsert_buildings(conn, [tower, flooded, burning])
    centre = burning.footprint.centroid
    body = {"kind": "fire", "severity": "high", "location": {"lat": centre.y, "lon": centre.x},
            "reporter": {"role": "staff"}, "description": "建物火災（試験）"}  # fmt: skip
    async with http.post("/api/v1/incidents", json=body) as resp:
        assert resp.status == 202, await resp.text()
    box = ",".join(str(v) for v in tower.footprint.union(burning.footprint).bounds)

    async def burning_on_layer() -> bool:
        layer = await _json(http, f"/api/v1/buildings.geojson?bbox={box}")
        damage = {f["properties"]["id"]: f["properties"]["damage"] for f in layer["features"]}
        return damage.get(burning.id) == "fire"

    await wait_until(burning_on_layer, timeout_s=30)  # the report went through the pipeline

    username, password = await new_operator(http, "operator")
    page, errors = await _log_in(browser, running.base_url, username, password)
    await page.keyboard.press("b")
    await expect(page.locator("#buildings-toggle")).to_have_attribute("aria-pressed", "true")
    ids = [tower.id, flooded.id, burning.id]
    await page.wait_for_function(_SOURCE_HOLDS, arg=ids, timeout=WAIT_MS)
    await page.wait_for_function(_TILTED, timeout=WAIT_MS)  # tilted to show the heights
    shown = await page.evaluate(_SOURCE_DATA)
    assert (shown["visibility"], shown["layerSource"], shown["type"]) == (
        "visible", "buildings", "fill-extrusion")  # fmt: skip
    props = {f["id"]: f for f in shown["features"]}
    assert set(ids) <= set(props)
    assert {i: (props[i]["height"], props[i]["depth_m"], props[i]["damage"]) for i in ids} == {
        tower.id: (45.0, None, None),
        flooded.id: (9.0, 2.4, None),
        burning.id: (15.0, None, "fire"),
    }
    assert props[burning.id]["colour"] == "#e12d39"  # fire red, over any depth colour
    assert props[flooded.id]["colour"] == "#ffb4a2"  # 0.5-3 m
    drawn = shapely.geometry.shape(props[tower.id]["geometry"])
    assert drawn.equals(tower.footprint)
    await _close_up(page, flooded.footprint.centroid.x, flooded.footprint.centroid.y)
    drawn_ids = await page.evaluate(_RENDERED)
    assert set(ids) <= set(drawn_ids)  # drawn on screen, not only held by the source
    await _screenshot(page, "6-buildings-3d")
    assert errors == []


def _town_building(lon: float, lat: float, east_m: float, **kw: Any) -> Building:
    """A 40 m square house of the city model, its south-west corner ``east_m`` east of
    (lon, lat)."""
    per_m = _M / math.cos(math.radians(lat))  # degrees of longitude per metre here
    west = lon + east_m * per_m
    footprint = shapely.box(west, lat, west + 40 * per_m, lat + 40 * _M)
    fields = {"usage": "411", "source": "test", **kw}
    return Building(id=f"bldg_{uuid.uuid4().hex[:10]}", footprint=footprint, **fields)


async def _close_up(page: Page, lon: float, lat: float) -> None:
    """Fly the map close to a point, tilted, and wait until it has drawn everything there."""
    await page.evaluate(
        "([lon, lat]) => window.dashboard.map().jumpTo({center: [lon, lat], zoom: 17, "
        "pitch: 60, bearing: -30})",
        [lon, lat],
    )
    await page.wait_for_function(
        "() => { const m = window.dashboard.map(); return m.loaded() && !m.isMoving(); }",
        timeout=WAIT_MS,
    )


# --- exercise marking ----------------------------------------------------------------------


async def test_a_drill_alert_is_marked_as_an_exercise_and_a_real_one_is_not(
    running: Running, settings: Settings, http: aiohttp.ClientSession, browser: Browser
) -> None:
    await load_town(settings, http)
    username, password = await new_operator(http, "viewer")
    page, errors = await _log_in(browser, running.base_url, username, password)
    banner = page.locator("#exercise-banner")
    real = page.locator(f"#alert-{await _draft(http, exercise=False)}")
    await expect(real).to_be_visible(timeout=WAIT_MS)
    await expect(real.locator(".badge.exercise")).to_have_count(0)
    await expect(real).not_to_contain_text("訓練")
    await expect(real).not_to_have_class(re.compile(r"\bexercise\b"))
    if not await _drills_on_board(http):  # other tests' drills may be on the board too
        await expect(banner).to_be_hidden()
    drill = page.locator(f"#alert-{await _draft(http, exercise=True)}")
    badge = drill.locator(".badge.exercise")
    await expect(badge).to_be_visible(timeout=WAIT_MS)
    await expect(badge).to_have_text("訓練 EXERCISE")
    await expect(drill).to_have_class(re.compile(r"\bexercise\b"))
    assert await drill.evaluate("el => getComputedStyle(el).borderTopStyle") == "dashed"
    await expect(banner).to_be_visible()
    await expect(banner).to_have_text("訓練 EXERCISE")
    await expect(real.locator(".badge.exercise")).to_have_count(0)  # still unmarked
    await _screenshot(page, "7-exercise")
    assert errors == []


async def _draft(http: aiohttp.ClientSession, *, exercise: bool) -> str:
    """Draft a level 3 alert over an empty square of sea (drafts reach nobody); return its id."""
    body = {"level": 3, "hazard": "flood", "area_name": f"試験海域 {uuid.uuid4().hex[:6]}",
            "area": {"type": "Polygon", "coordinates": [[[141.0, 34.0], [141.01, 34.0],
                                                         [141.01, 34.01], [141.0, 34.0]]]},
            "headline": {"ja": "試験"}, "exercise": exercise}  # fmt: skip
    async with http.post("/api/v1/alerts/drafts", json=body) as resp:
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])


async def _drills_on_board(http: aiohttp.ClientSession) -> bool:
    """Whether the dashboard's picture already holds a drill alert or incident."""
    board = await _json(http, "/api/v1/dashboard/state")
    items = [*board["alerts"], *board["incidents"]]
    return any(x.get("exercise") and x.get("status") != "superseded" for x in items)
