"""Notification: target alerts, compose each resident's message, deliver through the outbox."""

from notify.notifier import Notifier
from notify.targeting import ResidentIndex, TargetArea, points_inside

__all__ = ["Notifier", "ResidentIndex", "TargetArea", "points_inside"]
