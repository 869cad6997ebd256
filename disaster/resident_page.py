"""The resident page under ``/resident/``: a small installable web app and its service worker.

The files ship with the package (``disaster/static/resident/``). They are read once at import and
served from memory with a strong ETag, so a phone on a weak signal revalidates with a 304 rather
than downloading the page again. Every file is sent with a strict Content-Security-Policy: scripts,
styles and images only from this origin, no inline code, no other origin, and Trusted Types, so
an alert's text can never become markup or code.

The service worker is ``/resident/sw.js``: its default scope is ``/resident/``, the page itself.
Its cache name is a hash of all the files, so changing any file changes the worker's bytes, and
the browser installs the new app shell on the resident's next visit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from disaster._http import error

__all__ = ["CONTENT_SECURITY_POLICY", "SCOPE", "routes"]

SCOPE = "/resident/"
_STATIC_DIR = Path(__file__).parent / "static" / "resident"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",  # the forms are sent by script, never by navigation
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types resident",
    ]
)

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".webmanifest": "application/manifest+json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
#: Icons never change under a name; everything else is revalidated on every use (a 304 when
#: unchanged), so a fix to the page reaches residents at once.
_LONG_LIVED = frozenset({".svg", ".png"})
_SHELL_VERSION_MARK = b"__SHELL_VERSION__"
_COMMON_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(self), camera=(), microphone=(), payment=()",
}

routes = web.RouteTableDef()


@dataclass(frozen=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str
    cache_control: str


def _load_assets(directory: Path = _STATIC_DIR) -> dict[str, _Asset]:
    """Return the page's files by name, the worker's cache name set to a hash of them all."""
    files = {
        path.name: path.read_bytes()
        for path in sorted(directory.iterdir())
        if path.suffix in _CONTENT_TYPES
    }
    digest = hashlib.sha256()
    for name, body in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(body).digest())
    version = digest.hexdigest()[:16].encode()
    files["sw.js"] = files["sw.js"].replace(_SHELL_VERSION_MARK, version)
    return {name: _asset(name, body) for name, body in files.items()}


def _asset(name: str, body: bytes) -> _Asset:
    suffix = Path(name).suffix
    cache = "public, max-age=86400" if suffix in _LONG_LIVED else "no-cache"
    etag = hashlib.sha256(body).hexdigest()[:32]
    return _Asset(body, _CONTENT_TYPES[suffix], etag, cache)


_ASSETS = _load_assets()


@routes.get("/resident")
async def resident_root(_request: web.Request) -> web.Response:
    """Send the page's address without the slash to the page, so relative links resolve."""
    raise web.HTTPPermanentRedirect(SCOPE)


@routes.get(SCOPE)
async def resident_index(request: web.Request) -> web.Response:
    """Return the page."""
    return _serve(request, "index.html")


@routes.get(SCOPE + "{name}")
async def resident_file(request: web.Request) -> web.Response:
    """Return one of the page's files; anything else (or any path with a slash) is 404."""
    return _serve(request, request.match_info["name"])


def _serve(request: web.Request, name: str) -> web.Response:
    asset = _ASSETS.get(name)
    if asset is None:
        raise error(web.HTTPNotFound, f"no file {name} in the resident page")
    headers = {**_COMMON_HEADERS, "Cache-Control": asset.cache_control}
    if name == "sw.js":
        headers["Service-Worker-Allowed"] = SCOPE
    if any(tag.value in (asset.etag, "*") for tag in request.if_none_match or ()):
        response = web.Response(status=304, headers=headers)
    else:
        headers["Content-Type"] = asset.content_type
        response = web.Response(body=asset.body, headers=headers)
    response.etag = asset.etag
    return response
