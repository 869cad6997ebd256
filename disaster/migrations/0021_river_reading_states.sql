-- A late river reading (observed before the station's newest) re-evaluates its station from the
-- reading before it on, and the stage's hysteresis and the projected stage depend on the past:
-- so each evaluated reading keeps the station's state after it. NULL: not known (a reading
-- stored before this migration, or a late one after such a reading, which ingest/river.py
-- stores without evaluating it, as before).

ALTER TABLE river_readings
    ADD COLUMN stage smallint CHECK (stage BETWEEN 0 AND 4),
    ADD COLUMN projected_stage smallint CHECK (projected_stage BETWEEN 0 AND 4),
    ADD CHECK ((stage IS NULL) = (projected_stage IS NULL));

-- The state after each station's newest reading is the station's own.
UPDATE river_readings r SET stage = s.stage, projected_stage = s.projected_stage
FROM stations s
WHERE r.station_id = s.id AND r.observed_at = s.last_observed_at;
