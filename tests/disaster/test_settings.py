"""Settings come from ``DISASTER_*`` and fail fast, and clearly, when they cannot work."""

from __future__ import annotations

import os

import pytest

from disaster.domain import SettingsError
from disaster.settings import MqttTarget, load_settings, parse_mqtt_url
from tests.support import run_cli


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISASTER_KAFKA", "broker-a:9092,broker-b:9092")
    monkeypatch.setenv("DISASTER_DATABASE_URL", "postgresql://app@db.example:5432/disaster")
    monkeypatch.setenv("DISASTER_HTTP_PORT", "9000")
    settings = load_settings()
    assert settings.kafka == "broker-a:9092,broker-b:9092"
    assert settings.database_url == "postgresql://app@db.example:5432/disaster"
    assert settings.http_port == 9000


def test_unset_connections_mean_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISASTER_KAFKA", raising=False)
    monkeypatch.delenv("DISASTER_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.kafka is None
    assert settings.database_url is None


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("DISASTER_DATABASE_URL", "mysql://root@localhost/test", "must start with postgresql://"),
        ("DISASTER_DATABASE_URL", "postgresql://u@db:99999/x", "bad port"),
        ("DISASTER_DATABASE_URL", "postgresql:///nohost", "names no host"),
        ("DISASTER_KAFKA", "localhost", "host:port"),
        ("DISASTER_HTTP_PORT", "eighty", "DISASTER_HTTP_PORT"),
    ],
)
def test_bad_values_fail_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert name in str(caught.value)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("mqtt://broker:1884/city/sensors/#", MqttTarget("broker", 1884, "city/sensors/#")),
        ("mqtt://broker/sensors/+/reading", MqttTarget("broker", 1883, "sensors/+/reading")),
        ("mqtt://broker/#", MqttTarget("broker", 1883, "#")),
    ],
)
def test_an_mqtt_url_keeps_its_topic_filters_wildcards(url: str, target: MqttTarget) -> None:
    """``#`` is MQTT's multi-level wildcard here, not a URL fragment to drop."""
    assert parse_mqtt_url(url) == target


async def test_the_command_exits_at_once_on_a_bad_url() -> None:
    env = {**os.environ, "DISASTER_DATABASE_URL": "mysql://root@localhost/test"}
    code, _, err = await run_cli("migrate", env=env, timeout_s=30)
    assert code == 2
    assert "DISASTER_DATABASE_URL" in err
    assert "postgresql://" in err
    assert "Traceback" not in err
