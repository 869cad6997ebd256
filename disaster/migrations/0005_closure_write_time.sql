-- When a closure row was last written, so readers catch up by write time, not event time.
ALTER TABLE road_closures ADD COLUMN written_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX road_closures_by_write ON road_closures (written_at);
