"""One typed settings object, read once from ``DISASTER_*`` environment variables.

Unset connection settings mean "embedded": :mod:`disaster.embedded` fills them in with a broker
and a database started for this run, so the same code serves a laptop demo and a real cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from disaster.domain.errors import SettingsError

__all__ = ["MqttTarget", "Settings", "load_settings", "parse_mqtt_url"]

_HOST_PORT = re.compile(r"^\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}$")
_PG_SCHEMES = ("postgres", "postgresql")


@dataclass(frozen=True, slots=True)
class MqttTarget:
    """Where to subscribe: broker host and port, and the topic filter."""

    host: str
    port: int
    topic_filter: str


def parse_mqtt_url(url: str) -> MqttTarget:
    """Read ``mqtt://host[:port]/topic/filter/#``; the filter is required.

    A URL parser takes ``#`` for the start of a fragment; here it is MQTT's multi-level
    wildcard, and stays in the filter.
    """
    parts = urlsplit(url)
    topic_filter = parts.path.lstrip("/") + ("#" + parts.fragment if "#" in url else "")
    if parts.scheme != "mqtt" or not parts.hostname or not topic_filter.strip("/"):
        msg = f"MQTT URL must look like mqtt://host:1883/sensors/#, got {url!r}"
        raise ValueError(msg)
    return MqttTarget(parts.hostname, parts.port or 1883, topic_filter)


class Settings(BaseSettings):
    """Everything a process needs to know about where it runs."""

    model_config = SettingsConfigDict(env_prefix="DISASTER_", frozen=True, extra="ignore")

    kafka: str | None = Field(
        default=None, description="Kafka bootstrap servers, host:port[,host:port]; unset = embedded"
    )
    database_url: str | None = Field(
        default=None, description="postgresql:// URL; unset = embedded Postgres"
    )
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    state_dir: Path = Field(default_factory=lambda: platformdirs.user_state_path("disaster"))
    group_prefix: str = Field(default="disaster", pattern=r"^[A-Za-z0-9._-]+$")
    river_hysteresis_m: float = Field(default=0.10, ge=0.0, le=5.0)
    jma_levels_file: Path | None = Field(
        default=None, description="JSON map of JMA kind names to 警戒レベル; unset = packaged"
    )
    alert_rules_file: Path | None = Field(
        default=None,
        description="JSON alert rules: which events alert, which issue without an operator; "
        "unset = packaged",
    )
    city_graph: Path | None = Field(
        default=None, description="road graph file; unset = city.graph in the state directory"
    )
    sensor_watch_period_s: float = Field(default=10.0, gt=0.0, le=3600.0)
    mqtt_url: str | None = Field(
        default=None, description="mqtt://host:port/topic-filter to bridge into sensor.raw"
    )
    vapid_key_file: Path | None = Field(
        default=None,
        description="VAPID private key (PEM or base64url); unset = vapid.pem in the state "
        "directory, made on first use",
    )
    vapid_subject: str = Field(
        default="mailto:hq@example.invalid",
        pattern=r"^(mailto:|https://)",
        description="contact the push services may use (RFC 8292 sub)",
    )
    push_allow_loopback: bool = Field(
        default=False,
        description="allow push endpoints on loopback over http (tests and local push services "
        "only: otherwise only public https endpoints are accepted)",
    )
    delivery_workers: int = Field(default=1, ge=0, le=64)
    rate_limits: bool = Field(
        default=True, description="limit public writes per address (off only for load tests)"
    )
    cap_sender: str = Field(
        default="hq@disaster.example.invalid",
        pattern=r"^[^\s,<&]+$",
        description="CAP <sender>: a stable id of this HQ, e.g. an e-mail address or domain",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080",
        pattern=r"^https?://",
        description="where residents reach this service (links in notifications)",
    )

    @field_validator("kafka")
    @classmethod
    def _check_kafka(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        for server in value.split(","):
            if not _HOST_PORT.match(server.strip()):
                msg = f"DISASTER_KAFKA must be host:port[,host:port], got {server.strip()!r}"
                raise ValueError(msg)
        return value

    @property
    def graph_path(self) -> Path:
        """Return where the city's road graph file is."""
        return self.city_graph or self.state_dir / "city.graph"

    @property
    def vapid_path(self) -> Path:
        """Return where the VAPID private key is."""
        return self.vapid_key_file or self.state_dir / "vapid.pem"

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt(cls, value: str | None) -> str | None:
        if not value:
            return None
        parse_mqtt_url(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in _PG_SCHEMES:
            msg = (
                f"DISASTER_DATABASE_URL must start with postgresql:// (got scheme {parts.scheme!r})"
            )
            raise ValueError(msg)
        if not (parts.hostname or "host=" in parts.query):
            msg = "DISASTER_DATABASE_URL names no host (postgresql://user@host:port/db)"
            raise ValueError(msg)
        try:
            port = parts.port
        except ValueError as exc:
            msg = f"DISASTER_DATABASE_URL has a bad port: {exc}"
            raise ValueError(msg) from exc
        if port == 0:
            msg = "DISASTER_DATABASE_URL has port 0"
            raise ValueError(msg)
        return value


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation failure into one readable :class:`SettingsError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        reasons = "; ".join(
            f"DISASTER_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        msg = f"invalid settings: {reasons}"
        raise SettingsError(msg) from None
