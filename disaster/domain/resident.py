"""Residents as they register: where they may be, what they need, how to reach them.

Only what targeting and personalised advice need is asked for: places (home, work, and a
current location that expires on its own), language, needs, and channels. No name, no phone
number. A resident manages the record with the token handed out at registration.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, Field, HttpUrl, model_validator

from disaster.domain.models import GeoPoint, Language, _Record

__all__ = [
    "NEEDS",
    "VULNERABLE_NEEDS",
    "Answer",
    "AnswerIn",
    "CurrentLocation",
    "Locations",
    "Need",
    "PushSubscriptionIn",
    "Subscriber",
    "SubscriberIn",
    "SubscriberUpdate",
    "expires_at",
    "matches_profiles",
    "profile_for",
]

Need = Literal["wheelchair", "slow_walker", "infant", "no_car", "hearing", "sight"]
NEEDS: tuple[Need, ...] = ("wheelchair", "slow_walker", "infant", "no_car", "hearing", "sight")
#: Residents with these needs are listed first when HQ looks for who has not answered.
VULNERABLE_NEEDS: frozenset[str] = frozenset({"wheelchair", "slow_walker", "infant", "sight"})
LocationKind = Literal["home", "work", "current"]

#: The longest a current location is kept: a phone's position of yesterday targets nobody.
MAX_CURRENT_MIN = 24 * 60


class CurrentLocation(GeoPoint):
    """Where the resident is now; forgotten after ``expires_in_min`` minutes."""

    expires_in_min: int = Field(default=180, ge=1, le=MAX_CURRENT_MIN)


class Locations(_Record):
    """The places a resident is targeted at: any of them inside an area reaches them."""

    home: GeoPoint | None = None
    work: GeoPoint | None = None
    current: CurrentLocation | None = None


class PushSubscriptionIn(_Record):
    """A browser's ``PushSubscription.toJSON()``: where to push and the keys to encrypt with."""

    endpoint: HttpUrl
    keys: dict[Literal["p256dh", "auth"], str] = Field(min_length=2, max_length=2)
    expirationTime: float | None = None  # noqa: N815 — the browser's own field name


class SubscriberIn(_Record):
    """A registration as sent to ``POST /api/v1/subscribers``.

    ``location`` is the home location, the skeleton's single field, kept for simple clients.
    """

    location: GeoPoint | None = None
    locations: Locations | None = None
    language: Language = "ja"
    needs: list[Need] = Field(default_factory=list, max_length=len(NEEDS))
    drills: bool = Field(default=False, description="also receive exercise (訓練) alerts")

    @model_validator(mode="after")
    def _has_a_place(self) -> SubscriberIn:
        if self.location is not None and self.locations and self.locations.home is not None:
            msg = "give the home location once: location or locations.home"
            raise ValueError(msg)
        if self.location is None and not _any_place(self.locations):
            msg = "location: a registration needs at least one location (home, work or current)"
            raise ValueError(msg)
        return self

    def places(self) -> Locations:
        """Return the locations, the legacy ``location`` as home."""
        given = self.locations or Locations()
        return given.model_copy(update={"home": self.location}) if self.location else given


class SubscriberUpdate(_Record):
    """A change to a registration; omitted fields stay, a location set to null is removed."""

    locations: Locations | None = None
    language: Language | None = None
    needs: list[Need] | None = Field(default=None, max_length=len(NEEDS))
    drills: bool | None = None


class Subscriber(_Record):
    """A registered resident as the API shows it to that resident."""

    id: uuid.UUID
    created_at: datetime
    location: GeoPoint | None = Field(default=None, description="the home location")
    locations: Locations
    current_expires_at: datetime | None = None
    language: Language
    needs: list[Need]
    drills: bool
    push_channels: int = 0


class AnswerIn(_Record):
    """A resident's answer: safe, evacuating, or in need of help (about an alert, or not)."""

    status: Literal["safe", "evacuating", "need_help"]
    alert_id: uuid.UUID | None = None
    location: GeoPoint | None = None
    note: str = Field(default="", max_length=500)


class Answer(AnswerIn):
    """A stored answer."""

    subscriber_id: uuid.UUID
    answered_at: AwareDatetime


def profile_for(needs: list[str]) -> str:
    """Return the routing profile that fits a resident's needs (the most limiting one)."""
    if "wheelchair" in needs:
        return "wheelchair"
    if {"slow_walker", "infant", "sight"} & set(needs):
        return "slow_walk"
    return "walk"


def matches_profiles(needs: Sequence[str], profiles: Sequence[str]) -> bool:
    """Return whether an alert limited to ``profiles`` (empty: everyone) reaches these needs."""
    return not profiles or profile_for(list(needs)) in profiles


def _any_place(locations: Locations | None) -> bool:
    return locations is not None and any(
        getattr(locations, kind) is not None for kind in ("home", "work", "current")
    )


def expires_at(now: datetime, current: CurrentLocation) -> datetime:
    """Return when a current location stops counting."""
    return now + timedelta(minutes=current.expires_in_min)
