-- Issue 3: every stream stored and queryable by time, kind and area.

ALTER TABLE hazard_events ADD COLUMN source_id text;
UPDATE hazard_events SET source_id = station_id;
ALTER TABLE hazard_events ALTER COLUMN source_id SET NOT NULL;
CREATE INDEX hazard_events_by_source ON hazard_events (source_id, observed_at);
CREATE INDEX hazard_events_by_kind ON hazard_events (kind, observed_at);

-- River: rate-of-rise projection per station (0 disables it for gauges whose trend misleads).
ALTER TABLE stations ADD COLUMN projected_stage smallint NOT NULL DEFAULT 0
    CHECK (projected_stage BETWEEN 0 AND 4);
ALTER TABLE stations ADD COLUMN projection_horizon_min double precision NOT NULL DEFAULT 60
    CHECK (projection_horizon_min BETWEEN 0 AND 1440);
ALTER TABLE stations ADD COLUMN lat double precision;
ALTER TABLE stations ADD COLUMN lon double precision;
