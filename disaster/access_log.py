"""The HTTP access log, without query strings.

Route queries carry a resident's position (``?from=35.70,139.70``) and a log line kept for
weeks is no place for it: the log records method, path, status, size and time, never the query.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

__all__ = ["PathOnlyAccessLogger"]


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Logs ``METHOD /path STATUS BYTES SECONDS``; the query string is dropped."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write one line for a finished request."""
        self.logger.info(
            "%s %s %d %d %.3f",
            request.method, request.rel_url.path, response.status, response.body_length, time,
        )  # fmt: skip
