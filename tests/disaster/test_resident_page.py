"""The resident page: its files over real HTTP, then the page itself in Debian's Chromium.

The browser tests drive /usr/bin/chromium with Playwright (``playwright install`` cannot fetch a
browser here) against the real app, the real Postgres and the running service, and skip with
the reason when Chromium is not installed (``apt-get install chromium fonts-noto-cjk``).
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from playwright.async_api import BrowserContext, Page, Playwright, async_playwright, expect

from disaster import resident_page, resident_store, store
from disaster.app import create_app
from disaster.domain import Alert, AlertLevel
from disaster.services import Running
from disaster.settings import Settings
from notify.messages import AlertFacts, compose_alert, load_catalogue
from tests.support import load_town, served, square, wait_until

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
WORKER = "/resident/sw.js"
# As the probe and DESIGN.md start it: this machine's network is closed, so nothing that
# reaches out to Google's services may start with the browser.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
NewProfile = Callable[[str, dict[str, float]], Awaitable[BrowserContext]]
WAIT_MS = 30_000
PUSH_FAILED = "Notifications could not be turned on on this device"
#: What the browser itself logs for the page's requests while it is offline on purpose.
OFFLINE_NOISE = "Failed to load resource: net::ERR_INTERNET_DISCONNECTED"

CONTENT_TYPES = {
    "/resident/": "text/html",
    "/resident/index.html": "text/html",
    "/resident/app.js": "text/javascript",
    "/resident/i18n.js": "text/javascript",
    "/resident/shared.js": "text/javascript",
    "/resident/sw.js": "text/javascript",
    "/resident/style.css": "text/css",
    "/resident/manifest.webmanifest": "application/manifest+json",
    "/resident/icon.svg": "image/svg+xml",
    "/resident/level-4.png": "image/png",
}


@pytest.fixture(scope="module")
async def page_url(running: Running, settings: Settings) -> AsyncIterator[str]:
    """The real app (the whole API) with the page's routes, served on a port of its own.

    The routes are added only when ``create_app`` does not serve the page already, so this runs
    the same before and after ``disaster/app.py`` adds them.
    """
    assert running.pool is not None  # the service has migrated the database
    app = create_app(settings)
    if resident_page.SCOPE not in {r.resource.canonical for r in app.router.routes() if r.resource}:
        app.add_routes(resident_page.routes)
    async with served(app) as url:
        yield url


@pytest.fixture
async def client(page_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=page_url) as session:
        yield session


# --- the files over HTTP ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "content_type"), CONTENT_TYPES.items())
async def test_files_have_their_types_a_strict_policy_and_caching(
    client: aiohttp.ClientSession, path: str, content_type: str
) -> None:
    async with client.get(path) as resp:
        assert resp.status == 200
        assert resp.content_type == content_type
        policy = resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Cache-Control"] in ("no-cache", "public, max-age=86400")
        assert resp.headers["ETag"]
        if content_type.startswith("text/") or content_type.endswith("json"):
            assert resp.charset == "utf-8"
    assert policy == resident_page.CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert not re.search(r"unsafe|https?:|\*|data:", policy)


async def test_the_worker_at_resident_sw_js_covers_the_page(client: aiohttp.ClientSession) -> None:
    async with client.get(WORKER) as resp:
        worker = await resp.text()
        allowed = resp.headers["Service-Worker-Allowed"]
    # A worker's scope is at most its own folder, unless Service-Worker-Allowed widens it.
    assert posixpath.dirname(WORKER) + "/" == resident_page.SCOPE
    assert resident_page.SCOPE.startswith(allowed)
    assert "__SHELL_VERSION__" not in worker
    assert re.search(r"const SHELL_VERSION = '[0-9a-f]{16}';", worker)
    # Every file the worker caches for offline is served: one missing fails its install.
    shell = re.search(r"const SHELL = \[(.*?)\];", worker, re.S)
    assert shell is not None
    for name in re.findall(r"'([^']+)'", shell[1]):
        async with client.get(resident_page.SCOPE + name.removeprefix("./")) as resp:
            assert resp.status == 200, name


async def test_unchanged_files_revalidate_with_304(client: aiohttp.ClientSession) -> None:
    async with client.get("/resident/app.js") as resp:
        etag = resp.headers["ETag"]
    async with client.get("/resident/app.js", headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
        assert await resp.read() == b""
        assert resp.headers["ETag"] == etag


@pytest.mark.parametrize("path", ["/resident/nope.js", "/resident/..%2Fapp.py", "/resident/a/b"])
async def test_nothing_else_is_served(client: aiohttp.ClientSession, path: str) -> None:
    async with client.get(path) as resp:
        assert resp.status == 404


async def test_the_bare_path_redirects_to_the_page(client: aiohttp.ClientSession) -> None:
    async with client.get("/resident", allow_redirects=False) as resp:
        assert resp.status == 308
        assert resp.headers["Location"] == "/resident/"


class _InlineCode(HTMLParser):
    """Collects whatever the policy would block: inline scripts, styles and handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style" or "style" in names or any(n.startswith("on") for n in names):
            self.found.append(f"<{tag} {sorted(names)}>")
        self._in_script = tag == "script"
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append(f"inline script {data.strip()[:40]!r}")


async def test_the_page_has_no_inline_code(client: aiohttp.ClientSession) -> None:
    async with client.get("/resident/") as resp:
        html = await resp.text()
    parser = _InlineCode()
    parser.feed(html)
    assert parser.found == []
    assert '<meta charset="utf-8">' in html


# --- in the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def playwright() -> AsyncIterator[Playwright]:
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium fonts-noto-cjk")
    async with async_playwright() as started:
        yield started


@pytest.fixture
async def new_profile(playwright: Playwright, tmp_path: Path) -> AsyncIterator[NewProfile]:
    """Start Debian's Chromium, headless, with a fresh profile of its own on disk.

    A profile on disk, as on a phone: in a throwaway (incognito) context Chrome refuses Push
    outright, while a real profile tries the push service, which is what the page must survive.
    """
    contexts: list[BrowserContext] = []

    async def launch(locale: str, at: dict[str, float]) -> BrowserContext:
        context = await playwright.chromium.launch_persistent_context(
            tmp_path / f"profile-{len(contexts)}",
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            locale=locale, viewport={"width": 320, "height": 720},
            geolocation={"latitude": at["lat"], "longitude": at["lon"]},
            permissions=["geolocation", "notifications"],
        )  # fmt: skip
        contexts.append(context)
        return context

    yield launch
    for context in contexts:
        await context.close()


def _collect_errors(page: Page) -> list[str]:
    """Gather the page's uncaught errors and console errors (the policy's refusals among
    them)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def _origin_of(route_query: dict[str, str]) -> dict[str, float]:
    lat, lon = (float(v) for v in route_query["from"].split(","))
    return {"lat": round(lat, 5), "lon": round(lon, 5)}


async def test_a_resident_registers_answers_and_erases_in_the_browser(
    new_profile: NewProfile,
    page_url: str,
    settings: Settings,
    http: aiohttp.ClientSession,
    client: aiohttp.ClientSession,
    pool: asyncpg.Pool,
) -> None:
    home = _origin_of(await load_town(settings, http))
    context = await new_profile("en-US", home)
    page = context.pages[0]
    errors = _collect_errors(page)
    sub_id, auth = await _register_in_page(page, page_url, client, home)
    await _check_worker_and_storage(page, sub_id, auth)
    alert = await _deliver_alert(pool, sub_id, home)
    await _check_inbox_and_route(page, client, alert, home)
    await _answer_safe(page, pool, alert)
    await _check_push_notification(page, context, page_url, alert)
    await _answer_from_the_worker(page, context, pool, alert)
    await _check_offline(page, context, alert)
    await _erase(page, client, sub_id, auth)
    assert [e for e in errors if e != OFFLINE_NOISE] == []


async def _register_in_page(
    page: Page, page_url: str, client: aiohttp.ClientSession, home: dict[str, float]
) -> tuple[str, dict[str, str]]:
    await page.goto(f"{page_url}/resident/")
    await expect(page.locator("html")).to_have_attribute("lang", "en")  # the browser's language
    await page.select_option("#language", "en")
    await page.click(".locate[data-target=home]")
    await expect(page.locator("#home")).to_have_value(f"{home['lat']}, {home['lon']}")
    await page.check("input[name=needs][value=wheelchair]")
    await page.click("#submit")
    # Either the browser subscribed, or (no push service reachable) the page says so plainly.
    push = page.locator("#push-status[data-state]")
    await expect(push).to_be_visible(timeout=WAIT_MS)
    push_state = await push.get_attribute("data-state")
    creds = await page.evaluate("JSON.parse(localStorage.getItem('disaster.resident'))")
    auth = {"Authorization": f"Bearer {creds['token']}"}
    async with client.get(f"/api/v1/subscribers/{creds['id']}", headers=auth) as resp:
        assert resp.status == 200
        me = await resp.json()
    assert (me["needs"], me["language"], me["drills"]) == (["wheelchair"], "en", False)
    assert me["locations"]["home"] == home
    assert me["locations"]["work"] is None
    if push_state == "on":
        assert me["push_channels"] == 1
    else:
        assert push_state == "failed"
        await expect(push).to_contain_text(PUSH_FAILED)
    return creds["id"], auth


async def _check_worker_and_storage(page: Page, sub_id: str, auth: dict[str, str]) -> None:
    """The worker is active over /resident/ and has the credentials to answer from a
    notification."""
    registration = await asyncio.wait_for(
        page.evaluate(
            """navigator.serviceWorker.ready.then(r => ({
                   scope: r.scope, script: r.active.scriptURL, state: r.active.state}))"""
        ),
        timeout=WAIT_MS / 1000,
    )
    assert registration["scope"].endswith("/resident/")
    assert registration["script"].endswith("/resident/sw.js")
    stored = await page.evaluate("loadCredentials()")
    assert stored == {"id": sub_id, "token": auth["Authorization"].removeprefix("Bearer ")}


async def _deliver_alert(pool: asyncpg.Pool, sub_id: str, home: dict[str, float]) -> Alert:
    """A level 4 flood alert over the resident's home, delivered to their inbox."""
    alert = Alert(
        id=uuid.uuid4(), level=AlertLevel.EVACUATE, hazard="flood", area_name="Test ward",
        area=square(home["lon"] - 0.005, home["lat"] - 0.005),
        headline={"ja": "避難指示", "en": "Evacuate now"}, issued_at=datetime.now(UTC),
    )  # fmt: skip
    async with pool.acquire() as conn:
        await store.insert_alert(conn, alert)
        await conn.execute(
            "INSERT INTO deliveries (alert_id, subscriber_id, channel) VALUES ($1, $2, 'inbox')",
            alert.id, uuid.UUID(sub_id),
        )  # fmt: skip
    return alert


async def _check_inbox_and_route(
    page: Page, client: aiohttp.ClientSession, alert: Alert, home: dict[str, float]
) -> None:
    """The alert shows with its level's colour and number, and the resident's route by the
    wheelchair profile (their need), as the route API gives it."""
    async with page.expect_request(re.compile(r"/api/v1/route\?")) as asked:
        await page.click("#refresh")
    query = dict(re.findall(r"(\w+)=([^&]+)", (await asked.value).url))
    assert (query["profile"], query["hazard"]) == ("wheelchair", "flood")
    card = page.locator(f"#alert-{alert.id}")
    await expect(card).to_have_class(re.compile(r"\blevel-4\b"))
    await expect(card.locator(".level-number")).to_have_text("Level 4")
    await expect(card.locator(".alert-headline")).to_have_text("Evacuate now")
    await expect(page.locator("#current-alert")).to_have_text(
        "Level 4 Evacuate · flood · Test ward"
    )
    for coloured in (card.locator(".alert-head"), page.locator("#current-alert")):
        colour = await coloured.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour == "rgb(170, 0, 170)"  # level 4: #AA00AA
    params = {"from": f"{home['lat']},{home['lon']}", "profile": "wheelchair", "hazard": "flood"}
    async with client.get("/api/v1/route", params=params) as resp:
        route = await resp.json()
    expected = route["shelter_name"] or route["reason"]
    await expect(page.locator("#route-text")).to_contain_text(expected)


async def _answers(pool: asyncpg.Pool, alert: Alert) -> dict[str, Any]:
    """What HQ sees for the alert (``GET /api/v1/alerts/{id}/answers`` serves the same)."""
    async with pool.acquire() as conn:
        return await resident_store.answers_for_alert(conn, alert.id)


async def _answer_safe(page: Page, pool: asyncpg.Pool, alert: Alert) -> None:
    async with page.expect_response(re.compile(r"/answers$")) as answered:
        await page.click("button[data-status=safe]")
    assert (await answered.value).status == 201
    await expect(page.locator("#answer-status")).to_contain_text("Sent: “I am safe”")
    summary = await _answers(pool, alert)
    assert (summary["targeted"], summary["safe"], summary["unanswered"]) == (1, 1, 0)


async def _check_push_notification(
    page: Page, context: BrowserContext, page_url: str, alert: Alert
) -> None:
    """A push (delivered through DevTools, as no push service is reachable) shows the alert as
    a notification tagged with its id; the same push again replaces it."""
    facts = AlertFacts(4, "flood", "Test ward", alert.headline, alert.issued_at)
    message = compose_alert(facts, "en", load_catalogue())
    payload = message.to_push_payload(extra={"tag": str(alert.id), "alert_id": str(alert.id)})
    cdp = await context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    await cdp.send("ServiceWorker.enable")
    await wait_until(lambda: _true(registrations), timeout_s=10)
    push = {"origin": page_url, "registrationId": registrations[0]["registrationId"],
            "data": payload.decode()}  # fmt: skip
    shown = """navigator.serviceWorker.ready
        .then(r => r.getNotifications())
        .then(ns => ns.map(n => ({title: n.title, tag: n.tag, sticky: n.requireInteraction,
                                  data: n.data, actions: n.actions.map(a => a.action)})))"""
    # Chrome sets up a fresh profile's notification store on first use and, while doing so,
    # may drop a notification being shown (1 run in 5 here): open it first.
    assert await page.evaluate(shown) == []
    for _ in range(2):
        await cdp.send("ServiceWorker.deliverPushMessage", push)
        notes = await wait_until(lambda: page.evaluate(shown), timeout_s=10)
        assert len(notes) == 1
    (note,) = notes
    assert (note["title"], note["tag"], note["sticky"]) == (message.title, str(alert.id), True)
    assert note["data"]["alert_id"] == str(alert.id)
    assert note["actions"] == ["safe", "need_help"]
    await cdp.detach()


async def _answer_from_the_worker(
    page: Page, context: BrowserContext, pool: asyncpg.Pool, alert: Alert
) -> None:
    """The notification's "need help" as the worker sends it, with the credentials the page
    left in IndexedDB (DevTools cannot click a notification, so the handler is called)."""
    (worker,) = context.service_workers
    data = {"alert_id": str(alert.id), "language": "en-US"}
    await worker.evaluate("data => answerFromNotification('need_help', data)", data)
    summary = await _answers(pool, alert)
    assert (summary["safe"], summary["need_help"]) == (0, 1)  # the latest answer counts
    notes = await page.evaluate(
        """tag => navigator.serviceWorker.ready
               .then(r => r.getNotifications({tag}))
               .then(ns => ns.map(n => n.title))""",
        f"answer-{alert.id}",
    )
    assert notes == ["Your answer was sent"]


async def _true(values: list[Any]) -> bool:
    return bool(values)


async def _check_offline(page: Page, context: BrowserContext, alert: Alert) -> None:
    """Offline, the page still opens from the worker's cache and shows the last alerts and
    the last route."""
    route = await page.locator("#route-text").text_content()
    await context.set_offline(True)
    try:
        await page.reload()
        await expect(page.locator("#offline")).to_be_visible()
        await expect(page.locator(f"#alert-{alert.id} .level-number")).to_have_text("Level 4")
        await expect(page.locator("#route-text")).to_have_text(route or "?")
    finally:
        await context.set_offline(False)
    await page.reload()
    await expect(page.locator("#offline")).to_be_hidden()


async def _erase(
    page: Page, client: aiohttp.ClientSession, sub_id: str, auth: dict[str, str]
) -> None:
    await page.click("#open-settings")
    await page.click("#delete")
    await expect(page.locator("#confirm-delete")).to_be_visible()
    await page.click("#delete-yes")
    await expect(page.locator("#form-title")).to_have_text("Register")
    async with client.get(f"/api/v1/subscribers/{sub_id}", headers=auth) as resp:
        assert resp.status == 404
    assert await page.evaluate("localStorage.getItem('disaster.resident')") is None
    assert await page.evaluate("loadCredentials()") is None


async def test_the_page_speaks_the_browsers_language_and_fits_320_px(
    new_profile: NewProfile, page_url: str
) -> None:
    context = await new_profile("ja-JP", {"lat": 35.7, "lon": 139.7})
    page = context.pages[0]
    errors = _collect_errors(page)
    await page.goto(f"{page_url}/resident/")
    await expect(page.locator("html")).to_have_attribute("lang", "ja")
    await expect(page.locator("h1")).to_have_text("防災アラート")
    await page.select_option("#language", "ja-easy")
    await expect(page.locator("html")).to_have_attribute("lang", "ja-JP-x-easy")
    await expect(page.locator("#submit")).to_have_text("登録（とうろく）する")
    gaps = await page.evaluate(
        """() => {
            const keys = (lang) => Object.keys(TEXTS[lang]).sort().join();
            const used = [...document.querySelectorAll('[data-t]')].map(e => e.dataset.t);
            return {
              languages: ['ja', 'ja-easy'].filter(l => keys(l) !== keys('en')),
              unknown: used.filter(k => !(k in TEXTS.en)),
              overflow: document.documentElement.scrollWidth - innerWidth,
            };
        }"""
    )
    assert gaps == {"languages": [], "unknown": [], "overflow": 0}
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    assert errors == []
