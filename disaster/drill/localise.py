"""Making a scenario's inputs a drill run's own: ids namespaced, times moved, marked 訓練.

Two runs of one scenario must not meet in the database: a reading of gauge ``g1`` at 12:00
stored by the first run would make the second run's identical reading a redelivery. So every
id that keys stored state is prefixed with the run's tag (``d1a2b3c4d.g1``), incident report
ids are derived from the run id, and JMA/CAP documents get a run-specific EventID/identifier
and the 訓練/Exercise status. Times are shifted by one constant (zero on the virtual clock, so
a virtual run's inputs are byte-identical every time apart from the ids). Pure.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from disaster import topics
from disaster.drill.scenario import ScenarioEvent

__all__ = ["Localiser", "run_tag"]

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
_JMA_EVENT_ID = re.compile(r"<EventID>([^<]*)</EventID>")
_CAP_IDENTIFIER = re.compile(r"<identifier>([^<]*)</identifier>")
_STATUS_SWAPS = (
    ("<Status>通常</Status>", "<Status>訓練</Status>"),
    ("<status>Actual</status>", "<status>Exercise</status>"),
)


def run_tag(run_id: uuid.UUID) -> str:
    """Return the short prefix that makes ids a run's own (a letter, then 8 hex digits)."""
    return f"d{run_id.hex[:8]}"


def _shift_iso(text: str, shift: timedelta) -> str:
    def moved(match: re.Match[str]) -> str:
        raw = match.group(0)
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        out = (at + shift).isoformat()
        return out.replace("+00:00", "Z") if raw.endswith("Z") else out

    return _ISO.sub(moved, text)


@dataclass
class Localiser:
    """Rewrites events for one run; remembers the incidents its reports open."""

    run_id: uuid.UUID
    shift: timedelta = timedelta(0)
    incidents: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """Return the run's id prefix."""
        return run_tag(self.run_id)

    def own(self, scenario_id: str) -> str:
        """Return the run's id for a scenario's station, sensor or shelter id."""
        return f"{self.tag}.{scenario_id}"

    def key(self, event: ScenarioEvent) -> bytes:
        """Return the record key: the scenario's key made the run's own, the bare prefix
        (``<tag>.``) for a record without one, so that every record the run produces, and
        any rejection of it, is known as the run's by its key."""
        return self.own(event.key or "").encode()

    def value(self, event: ScenarioEvent) -> bytes:
        """Return the record value the run produces for a scenario event."""
        if isinstance(event.payload, str):
            text = self._document(event.payload)
        else:
            body = self._json(event.topic, json.loads(json.dumps(event.payload)))
            text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return (_shift_iso(text, self.shift) if self.shift else text).encode()

    def _document(self, text: str) -> str:
        """A JMA telegram or CAP alert: a run-specific series, marked as an exercise."""
        text = _JMA_EVENT_ID.sub(lambda m: f"<EventID>{self.tag}-{m.group(1)}</EventID>", text)
        text = text.replace("<EventID/>", f"<EventID>{self.tag}</EventID>", 1)
        text = _CAP_IDENTIFIER.sub(
            lambda m: f"<identifier>{self.tag}-{m.group(1)}</identifier>", text
        )
        for real, drill in _STATUS_SWAPS:
            text = text.replace(real, drill)
        return text

    def _json(self, topic: str, body: Any) -> Any:
        if isinstance(body, list):
            return [self._json(topic, item) for item in body]
        if not isinstance(body, dict):
            return body
        for name in ("station_id", "sensor_id", "shelter_id"):
            if isinstance(body.get(name), str):
                body[name] = self.own(body[name])
        if topic == topics.INCIDENT_RAW:
            self._incident(body)
        if topic == topics.ROAD_CLOSURES and isinstance(body.get("id"), str):
            body["id"] = self.own(body["id"])
        return body

    def _incident(self, body: dict[str, Any]) -> None:
        if isinstance(body.get("report_id"), str):
            original = uuid.UUID(body["report_id"])
            mine = uuid.uuid5(self.run_id, f"report:{original}")
            body["report_id"] = str(mine)
            # The incident a first report opens has an id derived from that report.
            opened = uuid.uuid5(mine, "incident")
            self.incidents.setdefault(uuid.uuid5(original, "incident"), opened)
        if isinstance(body.get("incident_id"), str):
            original = uuid.UUID(body["incident_id"])
            body["incident_id"] = str(self.incidents.get(original, original))

    def opened_incidents(self) -> list[uuid.UUID]:
        """Return the run's ids of the incidents its reports may have opened."""
        return sorted(self.incidents.values())
