"""HQ's dashboard page under ``/dashboard/``: the HTML shell, its modules, and MapLibre.

The page itself is public (it is only a login form until an operator signs in); every piece of
data it shows comes from viewer-only API routes. Its own files ship with the package
(``disaster/static/dashboard/``); MapLibre GL JS comes from the npm registry through the
lockfile there (``npm ci --prefix disaster/static/dashboard``, run by ``make``) and is served from
its ``node_modules`` under ``/dashboard/vendor/``. The CSP build of MapLibre is used, whose map
worker is a file of this origin rather than a blob, so the page keeps a strict policy: nothing
from another origin, no inline code, and Trusted Types (the only script URL allowed is that
worker's).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from disaster._http import error

__all__ = ["CONTENT_SECURITY_POLICY", "SCOPE", "VENDOR_DIR", "routes"]

SCOPE = "/dashboard/"
_STATIC_DIR = Path(__file__).parent / "static" / "dashboard"
VENDOR_DIR = _STATIC_DIR / "node_modules" / "maplibre-gl" / "dist"
_VENDOR_FILES = ("maplibre-gl-csp.js", "maplibre-gl-csp-worker.js", "maplibre-gl.css")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # MapLibre's control icons and its image-format probe
        "connect-src 'self'",
        "worker-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",  # the forms are sent by script, never by navigation
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types default",  # one policy: it allows exactly MapLibre's worker file
    ]
)
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(), camera=(), microphone=(), payment=()",
    "Cache-Control": "no-cache",  # revalidated on every load (a 304 when unchanged)
}

routes = web.RouteTableDef()


@dataclass(frozen=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str


def _load(directory: Path, names: tuple[str, ...] | None = None) -> dict[str, _Asset]:
    """Return the files of ``directory`` (only ``names`` if given) that exist, by name."""
    if not directory.is_dir():
        return {}
    found = {}
    for path in sorted(directory.iterdir()):
        if path.suffix in _CONTENT_TYPES and (names is None or path.name in names):
            body = path.read_bytes()
            etag = hashlib.sha256(body).hexdigest()[:32]
            found[path.name] = _Asset(body, _CONTENT_TYPES[path.suffix], etag)
    return found


_ASSETS = _load(_STATIC_DIR)
_VENDOR = _load(VENDOR_DIR, _VENDOR_FILES)


@routes.get("/dashboard")
async def dashboard_root(_request: web.Request) -> web.Response:
    """Send the bare address to the page, so its relative links resolve."""
    raise web.HTTPPermanentRedirect(SCOPE)


@routes.get(SCOPE)
async def dashboard_index(request: web.Request) -> web.Response:
    """Return the page (a login form until an operator signs in)."""
    return _serve(request, _ASSETS.get("index.html"), "index.html")


@routes.get(SCOPE + "{name}")
async def dashboard_file(request: web.Request) -> web.Response:
    """Return one of the page's own files."""
    name = request.match_info["name"]
    return _serve(request, _ASSETS.get(name), name)


@routes.get(SCOPE + "vendor/{name}")
async def dashboard_vendor(request: web.Request) -> web.Response:
    """Return one of MapLibre's files from the lockfile's install."""
    name = request.match_info["name"]
    if name in _VENDOR_FILES and not _VENDOR:
        raise error(
            web.HTTPServiceUnavailable,
            "MapLibre is not installed: run `npm ci --prefix disaster/static/dashboard`",
        )
    return _serve(request, _VENDOR.get(name), name)


def _serve(request: web.Request, asset: _Asset | None, name: str) -> web.Response:
    if asset is None:
        raise error(web.HTTPNotFound, f"no file {name} in the dashboard")
    if any(tag.value in (asset.etag, "*") for tag in request.if_none_match or ()):
        response = web.Response(status=304, headers=_HEADERS)
    else:
        response = web.Response(
            body=asset.body, headers={**_HEADERS, "Content-Type": asset.content_type}
        )
    response.etag = asset.etag
    return response
