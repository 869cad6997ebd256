"""The project's exceptions, derived from builtins so callers can catch them without imports."""

__all__ = ["InvalidInputError", "NotFoundError", "SettingsError"]


class SettingsError(ValueError):
    """The environment describes a setup that cannot work; raised before anything starts."""


class InvalidInputError(ValueError):
    """An input record is malformed; ``reason`` is what goes to the dead-letter queue."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFoundError(LookupError):
    """A referenced record (station, subscriber, alert) does not exist."""
