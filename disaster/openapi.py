"""The OpenAPI 3.1 document for ``/api/v1``, with schemas generated from the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from disaster import __version__
from disaster.access import ACCESS, RATE_LIMITS
from disaster.alerts_api import AlertDraftIn, CancelIn, UpdateIn
from disaster.auth_api import LoginIn, OperatorIn, TokenIn
from disaster.domain import Alert, Station, Subscriber, SubscriberIn
from disaster.domain.flood_extent import FloodExtentIn
from disaster.domain.incident import IncidentReport
from disaster.domain.resident import AnswerIn, PushSubscriptionIn, SubscriberUpdate
from disaster.domain.route import RouteAnswer
from disaster.domain.shelter import Shelter
from disaster.domain.weather import WeatherReport
from disaster.incidents_api import ResolutionIn
from disaster.sensors_api import SensorIn
from disaster.shelters_api import ShelterStatusIn

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_CLOSED = (
    "Updated. Closing an open shelter sends the residents an alert in force had sent "
    "there another way; X-Residents-Rerouted says how many"
)
_ERROR = _json(_ref("Error"), "The request is malformed; `reason` says why")


def openapi_document() -> dict[str, Any]:
    """Return the document; it is built from the same models the handlers validate with."""
    _, defs = models_json_schema(
        [
            (m, "serialization")
            for m in (Alert, Subscriber, Station, WeatherReport, Shelter, RouteAnswer)
        ]
        + [
            (m, "validation")
            for m in (
                SubscriberIn,
                SubscriberUpdate,
                PushSubscriptionIn,
                AnswerIn,
                IncidentReport,
                ResolutionIn,
                SensorIn,
                ShelterStatusIn,
                AlertDraftIn,
                UpdateIn,
                CancelIn,
                LoginIn,
                OperatorIn,
                TokenIn,
            )
        ],
        ref_template=_REF,
    )
    schemas = defs["$defs"]
    schemas["Error"] = {
        "type": "object",
        "required": ["reason"],
        "properties": {"reason": {"type": "string"}, "details": {"type": "array"}},
    }
    schemas["Health"] = _HEALTH
    sub_id = {"name": "id", "in": "path", "required": True,
              "schema": {"type": "string", "format": "uuid"}}  # fmt: skip
    station_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    inbox_item = {
        "type": "object",
        "properties": {"alert": _ref("Alert"), "delivered_at": {"type": "string"}},
    }
    paths = {
        "/api/v1/subscribers": {"post": {
            "summary": "Register a resident: locations, language, needs, drills",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("SubscriberIn")}}},
            "responses": {"201": _json(_ref("Subscriber"), "Registered; `token` shown once"),
                          "400": _ERROR, "422": _ERROR},
        }},
    }  # fmt: skip
    paths |= _resident_paths(sub_id, inbox_item)
    paths |= _operator_paths()
    paths |= {
        "/api/v1/alerts": {"get": {
            "summary": "Issued alerts, newest first",
            "parameters": [{"name": "limit", "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500}}],
            "responses": {"200": _json({"type": "array", "items": _ref("Alert")}, "Alerts"),
                          "400": _ERROR},
        }},
        "/api/v1/stations": {"get": {
            "summary": "River gauges with thresholds, warning areas and current stages",
            "responses": {"200": _json({"type": "array", "items": _ref("Station")}, "Stations")},
        }},
        "/api/v1/stations/{id}": {
            "get": {"summary": "One gauge and its current stage",
                    "parameters": [station_id],
                    "responses": {"200": _json(_ref("Station"), "The station"), "404": _ERROR}},
            "put": {"summary": "Create or update a gauge (new thresholds reset its stage)",
                    "parameters": [station_id],
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": _ref("Station")}}},
                    "responses": {"200": _json(_ref("Station"), "Updated"),
                                  "201": _json(_ref("Station"), "Created"),
                                  "400": _ERROR, "422": _ERROR}},
        },
        "/api/v1/stream": {"get": {
            "summary": "Server-sent events: one `alert` event per newly issued alert",
            "responses": {"200": {"description": "An endless text/event-stream",
                                  "content": {"text/event-stream": {}}}},
        }},
        "/healthz": {"get": {
            "summary": "Each component of this process: database, broker, consumers, listeners",
            "responses": {"200": _json(_ref("Health"), "`ok`: every component works"),
                          "503": _json(_ref("Health"), "`degraded`: `failing` names what is "
                                       "wrong; work pauses and resumes by itself")},
        }},
    }  # fmt: skip
    paths |= _ingest_paths()
    paths |= _dashboard_paths()
    paths |= _city_paths()
    schemas |= _city_schemas()
    _declare_refusals(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Disaster alerting API", "version": __version__},
        "paths": paths,
        "components": {"schemas": schemas},
    }


_COMPONENT = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"enum": ["ok", "failing"]},
        "problem": {"type": "string", "description": "What is wrong, when failing"},
    },
}
_HEALTH = {
    "type": "object",
    "required": ["status", "failing", "components"],
    "properties": {
        "status": {"enum": ["ok", "degraded"]},
        "failing": {"type": "array", "items": {"type": "string"},
                    "description": "Names of the failing components"},
        "components": {
            "type": "object",
            "additionalProperties": _COMPONENT,
            "description": "By name: `database` and `broker` (reachable from this process), "
            "`broker watch`, `consumer <topic>` (retrying a batch it cannot store), "
            "`alert stream listener` and `dashboard listener` (Postgres LISTEN connections, "
            "reopened by themselves after a database restart)",
        },
    },
}  # fmt: skip


def _declare_refusals(paths: dict[str, Any]) -> None:
    """Add the answers the access middleware gives on every route it guards (see ACCESS)."""
    for path, operations in paths.items():
        for method, operation in operations.items():
            route = (method.upper(), path)
            refusals = _REFUSALS.get(ACCESS.get(route, "admin"), ())
            if route in RATE_LIMITS or ACCESS.get(route) == "resident":
                refusals = (*refusals, "429")
            for status in refusals:
                operation.setdefault("responses", {}).setdefault(status, _ERROR)


_REFUSALS = {"resident": ("401", "404"), "viewer": ("401", "403"), "operator": ("401", "403"),
             "admin": ("401", "403")}  # fmt: skip


def _operator_paths() -> dict[str, Any]:
    """HQ accounts: login (session cookie + CSRF token), API tokens, accounts, the audit log."""
    denied = {"401": _ERROR, "403": _ERROR}
    return {
        "/api/v1/auth/login": {"post": {
            "summary": "Log in: sets an HttpOnly session cookie, answers the CSRF token",
            "requestBody": _body("LoginIn"),
            "responses": {"200": {"description": "Logged in"}, "401": _ERROR,
                          "429": _ERROR}}},
        "/api/v1/auth/logout": {"post": {"summary": "End the session",
                                         "responses": {"204": {"description": "Done"}}}},
        "/api/v1/auth/me": {"get": {"summary": "Who is calling",
                                    "responses": {"200": {"description": "Name and role"},
                                                  **denied}}},
        "/api/v1/auth/tokens": {"post": {
            "summary": "An API token acting as the caller (shown once)",
            "requestBody": _body("TokenIn"),
            "responses": {"201": {"description": "The token"}, **denied}}},
        "/api/v1/operators": {"post": {
            "summary": "Create an operator account (admin)", "requestBody": _body("OperatorIn"),
            "responses": {"201": {"description": "Created"}, **denied, "409": _ERROR}}},
        "/api/v1/alerts/drafts": {
            "post": {"summary": "Draft an alert by hand (waits for approval)",
                     "requestBody": _body("AlertDraftIn"),
                     "responses": {"201": {"description": "The draft"}, **denied,
                                   "422": _ERROR}},
            "get": {"summary": "Versions waiting for approval or issue, with approvers",
                    "responses": {"200": {"description": "Drafts"}, **denied}}},
        **{f"/api/v1/alerts/{{id}}/{step}": {"post": {
            "summary": summary, "parameters": _query("id"),
            **({"requestBody": _body(body)} if body else {}),
            "responses": {"200": {"description": "The version"}, **denied, "404": _ERROR,
                          "409": _ERROR}}}
           for step, summary, body in (
               ("approve", "Approve a draft (level 5: two different operators)", None),
               ("issue", "Issue an approved version to the residents", None),
               ("update", "Draft the next version (CAP Update)", "UpdateIn"),
               ("cancel", "Cancel, or declare the all-clear (CAP Cancel), at once", "CancelIn"))},
        "/api/v1/alerts/{id}/versions": {"get": {
            "summary": "Every version of the alert's series", "parameters": _query("id"),
            "responses": {"200": {"description": "Versions, oldest first"}, **denied}}},
        "/api/v1/alerts/{id}/preview": {"get": {
            "summary": "How many residents (and vulnerable ones) a version would reach, and "
                       "the shelters the solver would send them to (shelters null and a reason "
                       "when no city is loaded)",
            "parameters": _query("id"),
            "responses": {"200": {"description": "Counts"}, **denied}}},
        "/api/v1/audit": {"get": {
            "summary": "The audit log, newest first (admin)", "parameters": _query("limit"),
            "responses": {"200": {"description": "Entries"}, **denied}}},
    }  # fmt: skip


def _resident_paths(sub_id: dict[str, Any], inbox_item: dict[str, Any]) -> dict[str, Any]:
    """The routes a resident uses with their token (``Authorization: Bearer``)."""
    mine = {"400": _ERROR, "401": _ERROR, "404": _ERROR}
    created = {"201": {"description": "Stored"}, **mine, "422": _ERROR}
    return {
        "/api/v1/subscribers/{id}": {
            "get": {"summary": "The resident's own record: everything kept about them",
                    "parameters": [sub_id],
                    "responses": {"200": _json(_ref("Subscriber"), "The record"), **mine}},
            "patch": {"summary": "Change language, needs, drills or locations (null removes)",
                      "parameters": [sub_id], "requestBody": _body("SubscriberUpdate"),
                      "responses": {"200": _json(_ref("Subscriber"), "Updated"), **mine,
                                    "422": _ERROR}},
            "delete": {"summary": "Erase the resident and everything about them",
                       "parameters": [sub_id],
                       "responses": {"204": {"description": "Erased"}, **mine}},
        },
        "/api/v1/subscribers/{id}/inbox": {"get": {
            "summary": "The alerts delivered to this resident, newest first",
            "parameters": [sub_id],
            "responses": {"200": _json({"type": "array", "items": inbox_item}, "Inbox"),
                          **mine}}},
        "/api/v1/subscribers/{id}/push": {"post": {
            "summary": "Add a browser push subscription (public https endpoints only)",
            "parameters": [sub_id], "requestBody": _body("PushSubscriptionIn"),
            "responses": created}},
        "/api/v1/subscribers/{id}/answers": {"post": {
            "summary": "Answer: safe, evacuating or need help",
            "parameters": [sub_id], "requestBody": _body("AnswerIn"), "responses": created}},
        "/api/v1/push/key": {"get": {
            "summary": "The VAPID public key to subscribe with (applicationServerKey)",
            "responses": {"200": {"description": "The key, base64url"}}}},
        "/api/v1/alerts/{id}/cap": {"get": {
            "summary": "The alert as a CAP 1.2 document (one info per language)",
            "parameters": [sub_id],
            "responses": {"200": {"description": "CAP 1.2 XML",
                                  "content": {"application/cap+xml": {}}}, "404": _ERROR}}},
        "/api/v1/alerts.atom": {"get": {
            "summary": "Atom feed of the alerts of the last 48 hours, each with its CAP embedded",
            "responses": {"200": {"description": "Atom 1.0",
                                  "content": {"application/atom+xml": {}}}}}},
        "/api/v1/alerts/{id}/answers": {"get": {
            "summary": "Answers of the residents an alert reached; who has not, vulnerable first",
            "parameters": [sub_id],
            "responses": {"200": {"description": "Counts and the unanswered"}, "404": _ERROR}}},
    }  # fmt: skip


def _dashboard_paths() -> dict[str, Any]:
    """HQ's live picture: the whole state, its event stream, and the roads as the base map."""
    denied = {"401": _ERROR, "403": _ERROR}
    events = "`alert`, `delivery`, `incident`, `station`, `sensor`, `weather`, `closure`, `shelter`"
    return {
        "/api/v1/dashboard/state": {"get": {
            "summary": "Everything the dashboard shows: alerts with delivery progress, gauges "
                       "with recent readings and trend, sensors, weather, incidents, closures, "
                       "shelters, municipality areas",
            "responses": {"200": {"description": "One object of lists"}, **denied}}},
        "/api/v1/dashboard/stream": {"get": {
            "summary": f"Server-sent events, one per changed entity ({events}); the data is "
                       "the entity as the state route shows it",
            "responses": {"200": {"description": "An endless text/event-stream",
                                  "content": {"text/event-stream": {}}}, **denied}}},
        "/api/v1/roads.geojson": {"get": {
            "summary": "The loaded city's roads, one MultiLineString per road class",
            "responses": {"200": {"description": "GeoJSON FeatureCollection",
                                  "content": {"application/geo+json": {}}},
                          **denied, "404": _ERROR}}},
    }  # fmt: skip


def _query(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "schema": {"type": "string"}} for n in names]


def _body(model: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(model)}}}


def _ingest_paths() -> dict[str, Any]:
    """The routes of the ingest streams: incidents, sensors, weather reports, events."""
    path_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    accepted = {"202": {"description": "Accepted; processed through incident.raw"},
                "400": _ERROR, "422": _ERROR}  # fmt: skip
    listing = {"200": {"description": "Newest first"}, "400": _ERROR}
    return {
        "/api/v1/incidents": {
            "post": {"summary": "Report an incident (staff or resident)",
                     "requestBody": _body("IncidentReport"), "responses": accepted},
            "get": {"summary": "Incidents", "parameters": _query("status", "kind", "limit"),
                    "responses": listing},
        },
        "/api/v1/incidents/{id}": {"get": {
            "summary": "One incident with its report count", "parameters": path_id,
            "responses": {"200": {"description": "The incident"}, "404": _ERROR}}},
        "/api/v1/incidents/{id}/resolve": {"post": {
            "summary": "Resolve an open incident; roads it closed reopen",
            "parameters": path_id, "requestBody": _body("ResolutionIn"),
            "responses": {**accepted, "404": _ERROR, "409": _ERROR}}},
        "/api/v1/sensors/{id}": {"put": {
            "summary": "Register a sensor's expected interval and place",
            "parameters": path_id, "requestBody": _body("SensorIn"),
            "responses": {"200": {"description": "Updated"}, "201": {"description": "Created"},
                          "422": _ERROR}}},
        "/api/v1/sensors/readings": {"get": {
            "summary": "Sensor readings",
            "parameters": _query("kind", "since", "until", "bbox", "limit"),
            "responses": listing}},
        "/api/v1/weather/reports": {"get": {
            "summary": "JMA and CAP reports, normalised",
            "parameters": _query("since", "until", "area_code", "mode", "current", "limit"),
            "responses": {"200": _json({"type": "array", "items": _ref("WeatherReport")},
                                       "Reports"), "400": _ERROR}}},
        "/api/v1/shelters": {"get": {
            "summary": "Shelters", "parameters": _query("hazard", "open"),
            "responses": {"200": _json({"type": "array", "items": _ref("Shelter")}, "Shelters"),
                          "400": _ERROR}}},
        "/api/v1/shelters/{id}": {
            "get": {"summary": "One shelter", "parameters": path_id,
                    "responses": {"200": _json(_ref("Shelter"), "The shelter"), "404": _ERROR}},
            "put": {"summary": "Create or replace a shelter", "parameters": path_id,
                    "requestBody": _body("Shelter"),
                    "responses": {"200": _json(_ref("Shelter"), "Stored"), "422": _ERROR}},
            "patch": {"summary": "Open or close a shelter and report its occupancy",
                      "parameters": path_id, "requestBody": _body("ShelterStatusIn"),
                      "responses": {"200": _json(_ref("Shelter"), _CLOSED), "404": _ERROR,
                                    "422": _ERROR}},
        },
        "/api/v1/route": {"get": {
            "summary": "A resident's way to the nearest open shelter fit for the hazard, "
                       "on the roads as they are now (closures applied); with `alert`, that "
                       "alert's hazard and the time until its water, when known: a shelter "
                       "further than that also brings a building to go up in (`refuge`)",
            "parameters": _query("from", "profile", "hazard", "alert"),
            "responses": {"200": _json(_ref("RouteAnswer"), "The route, or why there is none"),
                          "400": _ERROR, "404": _ERROR, "503": _ERROR}}},
        "/api/v1/events": {"get": {
            "summary": "Hazard events of every stream",
            "parameters": _query("kind", "since", "until", "limit"), "responses": listing}},
    }  # fmt: skip


def _city_schemas() -> dict[str, Any]:
    """The flood-extent body and the 3D layer's building feature."""
    extent = FloodExtentIn.model_json_schema(ref_template=_REF)
    nested = extent.pop("$defs", {})
    nullable_number = {"type": ["number", "null"]}
    building = {
        "type": "object", "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"const": "Feature"},
            "geometry": {"type": "object", "description": "GeoJSON Polygon, lon/lat"},
            "properties": {
                "type": "object", "additionalProperties": False,
                "required": ["id", "height_m", "storeys", "usage", "depth_m", "damage", "refuge"],
                "properties": {
                    "id": {"type": "string"}, "height_m": nullable_number,
                    "storeys": {"type": ["integer", "null"]},
                    "usage": {"type": ["string", "null"], "description": "bldg:usage code"},
                    "depth_m": nullable_number | {"description": "expected flood depth, m"},
                    "damage": {"enum": ["fire", "collapse", None]},
                    "refuge": {"type": "boolean",
                               "description": "may be offered for vertical evacuation now"},
                },
            },
        },
    }  # fmt: skip
    return {**nested, "FloodExtentIn": extent, "BuildingFeature": building}


def _city_paths() -> dict[str, Any]:
    """The 3D city model: flood extents received as hazards, buildings and damage."""
    denied = {"401": _ERROR, "403": _ERROR}
    layer = {"type": "object", "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": _ref("BuildingFeature")},
        "truncated": {"type": "boolean"}, "limit": {"type": "integer"}}}  # fmt: skip
    return {
        "/api/v1/flood-extents": {
            "post": {"summary": "Receive a flood-extent polygon set (depth rank or metres per "
                                "polygon); replaces the source's active version. Bodies up "
                                "to 16 MiB (other routes: 64 KiB)",
                     "requestBody": _body("FloodExtentIn"),
                     "responses": {"201": {"description": "Stored; depths recomputed"},
                                   "400": _ERROR, **denied, "409": _ERROR, "413": _ERROR,
                                   "422": _ERROR}},
            "get": {"summary": "The active flood extents, as FeatureCollections",
                    "responses": {"200": {"description": "Extents"}, **denied}}},
        "/api/v1/flood-extents/{id}/withdraw": {"post": {
            "summary": "Withdraw an active flood extent", "parameters": _query("id"),
            "responses": {"200": {"description": "Withdrawn"}, **denied, "404": _ERROR}}},
        "/api/v1/buildings.geojson": {"get": {
            "summary": "Buildings in a viewport for the 3D layer: height, expected depth, "
                       "damage, refuge (tallest first up to limit; `truncated` if more)",
            "parameters": _query("bbox", "limit", "since"),
            "responses": {"200": _json(layer, "A FeatureCollection"), "400": _ERROR,
                          **denied}}},
        "/api/v1/damage": {"get": {
            "summary": "Fires, collapses, damaged and flooded buildings per municipal area",
            "parameters": _query("since"),
            "responses": {"200": {"description": "Counts"}, "400": _ERROR, **denied}}},
    }  # fmt: skip
