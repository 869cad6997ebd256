"""Shared pieces of the HTTP layer: resource keys, JSON errors, body validation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from aiohttp import web
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel, ValidationError

__all__ = [
    "POOL",
    "PRODUCER",
    "bbox_param",
    "body_too_large",
    "choice_param",
    "error",
    "json_body",
    "json_response",
    "limit_param",
    "time_param",
    "uuid_param",
    "validated",
]

POOL = web.AppKey("pool", asyncpg.Pool)
PRODUCER = web.AppKey("producer", AIOKafkaProducer)
ModelT = TypeVar("ModelT", bound=BaseModel)
_SHOWN_CHARS = 120


def error(status: type[web.HTTPError], reason: str, details: Any = None) -> web.HTTPError:
    body: dict[str, Any] = {"reason": reason}
    if details is not None:
        body["details"] = details
    return status(text=json.dumps(body, ensure_ascii=False), content_type="application/json")


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def uuid_param(request: web.Request, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise error(web.HTTPBadRequest, f"{name} must be a UUID") from None


def body_too_large(max_bytes: int) -> web.HTTPRequestEntityTooLarge:
    """Return the 413 answer for a body over ``max_bytes``, with a JSON reason."""
    reason = f"the body is larger than the {max_bytes} bytes allowed"
    return web.HTTPRequestEntityTooLarge(
        max_size=max_bytes, text=json.dumps({"reason": reason}), content_type="application/json",
        headers={"Connection": "close"},
    )  # fmt: skip


async def json_body(request: web.Request) -> Any:
    """Return the body as strict JSON (no NaN or Infinity), or answer 400 saying why not.

    A body over the app's ``client_max_size`` is answered 413 by :meth:`request.read`.
    """
    raw = await request.read()
    try:
        return json.loads(raw.decode(), parse_constant=_refuse_constant)  # UTF-8 only
    except RecursionError:
        raise error(web.HTTPBadRequest, "the body is not JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN, too many digits
        reason = f"the body is not JSON: {str(exc)[:_SHOWN_CHARS]}"
        raise error(web.HTTPBadRequest, reason) from None


def _refuse_constant(name: str) -> Any:
    msg = f"{name} is not a JSON number"
    raise ValueError(msg)


def validated(model: type[ModelT], body: Any) -> ModelT:
    """Validate a body, or answer 422 naming the first bad field (all of them in details)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        first = details[0]
        reason = f"{'.'.join(map(str, first['loc'])) or 'body'}: {first['msg']}"
        raise error(web.HTTPUnprocessableEntity, reason, details) from None


def limit_param(request: web.Request, default: int = 100, maximum: int = 500) -> int:
    """Return the ``limit`` query parameter, or answer 400."""
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise error(web.HTTPBadRequest, f"limit must be a whole number from 1 to {maximum}")
    return int(raw)


def time_param(request: web.Request, name: str) -> datetime | None:
    """Return an ISO 8601 query time (with an offset), or answer 400."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise error(web.HTTPBadRequest, f"{name} must be an ISO 8601 time with an offset")
    return value


def bbox_param(request: web.Request) -> tuple[float, float, float, float] | None:
    """Return the ``bbox`` query parameter as lon/lat bounds, or answer 400."""
    raw = request.query.get("bbox")
    if raw is None:
        return None
    try:
        min_lon, min_lat, max_lon, max_lat = (float(v) for v in raw.split(","))
    except ValueError:
        raise error(web.HTTPBadRequest, "bbox must be min_lon,min_lat,max_lon,max_lat") from None
    return (min_lon, min_lat, max_lon, max_lat)


def choice_param(request: web.Request, name: str, allowed: Iterable[str]) -> str | None:
    """Return an optional query parameter that must be one of ``allowed``, or answer 400."""
    value = request.query.get(name)
    choices = tuple(allowed)
    if value is not None and value not in choices:
        raise error(web.HTTPBadRequest, f"{name} must be one of {', '.join(choices)}")
    return value
