"""Stream ingestors: parse, validate, dedupe and persist raw input, then emit hazard events."""

from ingest.incident import IncidentIngestor
from ingest.inspect import inspect_input
from ingest.river import RiverIngestor, parse_reading
from ingest.sensor import parse_sensor
from ingest.sensor_ingest import SensorIngestor, SilentSensorWatch
from ingest.weather import WeatherIngestor, parse_weather

__all__ = [
    "IncidentIngestor",
    "RiverIngestor",
    "SensorIngestor",
    "SilentSensorWatch",
    "WeatherIngestor",
    "inspect_input",
    "parse_reading",
    "parse_sensor",
    "parse_weather",
]
