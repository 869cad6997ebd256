"""Stream ingestors: parse, validate, dedupe and persist raw input, then emit hazard events."""

from ingest.river import RiverIngestor, parse_reading

__all__ = ["RiverIngestor", "parse_reading"]
