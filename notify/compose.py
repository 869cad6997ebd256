"""Turning an alert into one resident's push payload.

The payload carries the alert id as the notification ``tag``: should a delivery be sent twice
(a worker killed after sending, before recording it), the phone replaces the notification
instead of showing a second one.
"""

from __future__ import annotations

from disaster._kafka import encode_json
from disaster.domain import Alert
from notify.delivery import Recipient

__all__ = ["compose_plain"]

_BODY_CHARS = 90


async def compose_plain(alert: Alert, recipient: Recipient) -> bytes:
    """Return the alert's headline in the resident's language (Japanese when missing)."""
    headline = alert.headline.get(recipient.language) or alert.headline.get("ja") or ""
    title = f"【警戒レベル{int(alert.level)}】{alert.area_name}"
    if alert.exercise:
        title = f"【訓練】{title}"
    return encode_json({
        "tag": str(alert.id), "alert_id": str(alert.id), "level": int(alert.level),
        "hazard": alert.hazard, "exercise": alert.exercise, "title": title,
        "body": headline[:_BODY_CHARS], "full_text": headline,
    })  # fmt: skip
