-- Issue 3: every stream stored and queryable by time, kind and area.

ALTER TABLE hazard_events ADD COLUMN source_id text;
UPDATE hazard_events SET source_id = station_id;
ALTER TABLE hazard_events ALTER COLUMN source_id SET NOT NULL;
CREATE INDEX hazard_events_by_source ON hazard_events (source_id, observed_at);
CREATE INDEX hazard_events_by_kind ON hazard_events (kind, observed_at);
