"""Notification: target alerts to the residents inside their area and record deliveries."""

from notify.notifier import Notifier
from notify.targeting import points_inside

__all__ = ["Notifier", "points_inside"]
