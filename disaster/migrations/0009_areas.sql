-- Administrative areas by code (全国地方公共団体コード, JIS X 0402): an alert may name
-- municipalities instead of drawing them, and targeting resolves the codes to these shapes.
CREATE TABLE areas (
    code       text PRIMARY KEY CHECK (code ~ '^[0-9]{5,6}$'),
    name       text NOT NULL,
    geometry   jsonb NOT NULL,      -- GeoJSON Polygon or MultiPolygon, lon/lat
    source     text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE alerts ADD COLUMN area_codes text[] NOT NULL DEFAULT '{}';
