"""Normalised weather reports: what JMA XML and CAP 1.2 documents say, in one shape.

Both formats are reduced to the same record so the rules, the dashboard and the alert writer
never care which agency spoke. The original document is kept beside it in Postgres.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from disaster.domain.levels import AlertLevel
from disaster.domain.models import GeoPoint, PolygonArea, _Record

__all__ = ["Circle", "Geocode", "ReportArea", "WarningItem", "WeatherReport"]

#: 通常/Actual -> actual; 訓練/Exercise -> exercise; 試験, Test, System, Draft -> test.
Mode = Literal["actual", "exercise", "test"]
#: JMA 発表/訂正/取消 (and 遅延 as issue); CAP Alert/Update/Cancel (Ack/Error are refused).
InfoType = Literal["issue", "update", "correction", "cancel"]


class Circle(_Record):
    """A CAP circle: a centre and a radius in kilometres."""

    center: GeoPoint
    radius_km: float = Field(ge=0.0, allow_inf_nan=False)


class Geocode(_Record):
    """A coded area, such as a JMA area code or a CAP valueName/value pair."""

    name: str
    value: str


class ReportArea(_Record):
    """An area a report speaks of; JMA areas carry a code, CAP areas may carry geometry."""

    description: str
    code: str | None = None
    polygons: list[PolygonArea] = Field(default_factory=list)
    circles: list[Circle] = Field(default_factory=list)
    geocodes: list[Geocode] = Field(default_factory=list)


class WarningItem(_Record):
    """One kind of warning (or one CAP info block) over some areas, with its 警戒レベル."""

    kind_name: str
    kind_code: str | None = None
    status: str = Field(description="JMA 発表/継続/解除/… as written; CAP: the msgType")
    areas: list[ReportArea] = Field(default_factory=list)
    alert_level: AlertLevel | None = None


class WeatherReport(_Record):
    """One JMA telegram or CAP alert, normalised.

    ``series`` groups the reports that supersede each other: for JMA the Control Title,
    EditorialOffice, Status and Head EventID; for CAP the sender and the first identifier of
    the reference chain. ``id`` is unique per source message, so a replay stores it once.
    """

    id: str = Field(min_length=1, max_length=600)
    source: Literal["jma", "cap"]
    series: str = Field(min_length=1, max_length=600)
    title: str
    info_type: InfoType
    mode: Mode
    reported_at: AwareDatetime
    headline: str = ""
    items: list[WarningItem] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list, description="ids of earlier reports")

    @property
    def alert_level(self) -> AlertLevel | None:
        """Return the highest level any item calls for, or None."""
        levels = [item.alert_level for item in self.items if item.alert_level is not None]
        return max(levels) if levels else None
