"""Disaster-prevention alerting and evacuation support: the domain, the API and the CLI."""

__all__ = ["__version__"]

__version__ = "0.1.0"
