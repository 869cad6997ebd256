"""The alert lifecycle: draft → approved → issued → updated (a new version) → cancelled.

Every version is a row of its series and is kept. A draft becomes approved when enough
different operators approve it (two at level 5, 緊急安全確保, one otherwise); only an approved
version is issued, and issuing it supersedes the series' previous issued version. An update is a
new draft version (CAP ``Update``) that goes through approval again; a cancellation or all-clear
is issued at once (CAP ``Cancel``), since taking a warning back must never wait. Rules that may
issue on their own (see :mod:`disaster.rules`) store issued versions directly.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from disaster import store
from disaster.domain import Alert, AlertLevel

__all__ = [
    "LifecycleError",
    "approvals_needed",
    "approve",
    "cancel",
    "draft_update",
    "issue",
    "series_versions",
]


class LifecycleError(ValueError):
    """A transition the alert's state does not allow; the message says why."""


def approvals_needed(level: int) -> int:
    """Return how many different operators must approve a version of this level."""
    return 2 if level >= AlertLevel.EMERGENCY else 1


async def _locked(conn: asyncpg.Connection, alert_id: uuid.UUID) -> Alert:
    row = await conn.fetchval("SELECT id FROM alerts WHERE id = $1 FOR UPDATE", alert_id)
    alert = None if row is None else await store.alert_by_id(conn, alert_id)
    if alert is None:
        msg = f"no alert {alert_id}"
        raise LookupError(msg)
    return alert


async def approve(conn: asyncpg.Connection, alert_id: uuid.UUID, operator: str) -> Alert:
    """Record an operator's approval of a draft; it becomes approved with enough of them."""
    alert = await _locked(conn, alert_id)
    if alert.status not in ("draft", "approved"):
        msg = f"only a draft can be approved; this version is {alert.status}"
        raise LifecycleError(msg)
    await conn.execute(
        "INSERT INTO alert_approvals (alert_id, operator) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        alert_id,
        operator,
    )
    count = await conn.fetchval(
        "SELECT count(*) FROM alert_approvals WHERE alert_id = $1", alert_id
    )
    if count >= approvals_needed(int(alert.level)):
        await conn.execute("UPDATE alerts SET status = 'approved' WHERE id = $1", alert_id)
    found = await store.alert_by_id(conn, alert_id)
    assert found is not None
    return found


async def issue(conn: asyncpg.Connection, alert_id: uuid.UUID, at: datetime) -> Alert:
    """Issue an approved version (superseding the series' previous one); return it."""
    alert = await _locked(conn, alert_id)
    if alert.status != "approved":
        need = approvals_needed(int(alert.level))
        msg = f"only an approved version can be issued (this one is {alert.status}; " \
              f"level {int(alert.level)} needs {need} different operators' approval)"  # fmt: skip
        raise LifecycleError(msg)
    await conn.execute(
        """UPDATE alerts SET status = 'superseded'
           WHERE series_id = $1 AND status = 'issued' AND id <> $2""",
        alert.series, alert_id,
    )  # fmt: skip
    await conn.execute(
        "UPDATE alerts SET status = 'issued', issued_at = $2 WHERE id = $1", alert_id, at
    )
    await conn.execute("SELECT pg_notify('alert_issued', $1)", str(alert_id))
    found = await store.alert_by_id(conn, alert_id)
    assert found is not None
    return found


async def draft_update(
    conn: asyncpg.Connection, alert_id: uuid.UUID, changes: dict, operator: str, at: datetime
) -> Alert:
    """Make the next version of an issued alert's series as a draft (CAP Update)."""
    latest = await _latest_issued(conn, alert_id)
    fields = {**latest.model_dump(), **changes}
    fields |= {"id": uuid.uuid4(), "status": "draft", "msg_type": "Update",
               "version": await _next_version(conn, latest.series), "created_by": operator,
               "series_id": latest.series, "issued_at": at, "hazard_event_id": None}  # fmt: skip
    draft = Alert.model_validate(fields)
    await store.insert_alert(conn, draft)
    return draft


async def cancel(
    conn: asyncpg.Connection,
    alert_id: uuid.UUID,
    operator: str,
    at: datetime,
    *,
    all_clear: bool,
    headline: dict[str, str] | None = None,
) -> Alert:
    """Take an issued alert back (cancelled in error, or all clear), issued at once."""
    latest = await _latest_issued(conn, alert_id)
    said = "解除" if all_clear else "取消"
    head = headline or {
        "ja": f"【{said}】{latest.area_name}の警戒レベル{int(latest.level)}を{said}しました。",
        "en": f"[{'All clear' if all_clear else 'Cancelled'}] The level {int(latest.level)} "
        f"alert for {latest.area_name} is {'over' if all_clear else 'withdrawn'}.",
    }
    fields = {**latest.model_dump(), "id": uuid.uuid4(), "status": "issued", "msg_type": "Cancel",
              "version": await _next_version(conn, latest.series), "created_by": operator,
              "series_id": latest.series, "issued_at": at, "headline": head,
              "hazard_event_id": None}  # fmt: skip
    cancelled = Alert.model_validate(fields)
    await conn.execute(
        "UPDATE alerts SET status = 'cancelled' WHERE series_id = $1 AND status = 'issued'",
        latest.series,
    )
    await store.insert_alert(conn, cancelled)
    return cancelled


async def series_versions(conn: asyncpg.Connection, series_id: uuid.UUID) -> list[Alert]:
    """Return every version of a series, oldest first."""
    ids = await conn.fetch("SELECT id FROM alerts WHERE series_id = $1 ORDER BY version", series_id)
    found = [await store.alert_by_id(conn, r["id"]) for r in ids]
    return [a for a in found if a is not None]


async def _latest_issued(conn: asyncpg.Connection, alert_id: uuid.UUID) -> Alert:
    alert = await _locked(conn, alert_id)
    row = await conn.fetchval(
        """SELECT id FROM alerts WHERE series_id = $1 AND status = 'issued'
           ORDER BY version DESC LIMIT 1""",
        alert.series,
    )
    if row is None:
        msg = "the series has no issued version to update or cancel"
        raise LifecycleError(msg)
    latest = await store.alert_by_id(conn, row)
    assert latest is not None
    return latest


async def _next_version(conn: asyncpg.Connection, series: uuid.UUID) -> int:
    return int(
        await conn.fetchval(
            "SELECT coalesce(max(version), 0) + 1 FROM alerts WHERE series_id = $1", series
        )
    )
