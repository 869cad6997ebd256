-- Flood extents received as hazards: polygon sets with a depth (rank or metres) per polygon.
-- One version per (source, version); at most one active version per source, so a newer
-- version from the same source replaces the older one, and a withdrawal leaves none.
CREATE TABLE flood_extents (
    id           uuid PRIMARY KEY,
    source       text NOT NULL,
    version      integer NOT NULL CHECK (version >= 1),
    name         text NOT NULL,
    exercise     boolean NOT NULL DEFAULT false,
    features     jsonb NOT NULL,              -- [{geometry, depth_m, depth_rank}], lon/lat
    min_lon      double precision NOT NULL,   -- the polygons' bounding box
    min_lat      double precision NOT NULL,
    max_lon      double precision NOT NULL,
    max_lat      double precision NOT NULL,
    active       boolean NOT NULL DEFAULT true,
    received_by  text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    withdrawn_at timestamptz,
    UNIQUE (source, version),
    CHECK (min_lon <= max_lon AND min_lat <= max_lat)
);
CREATE UNIQUE INDEX flood_extents_one_active ON flood_extents (source) WHERE active;
-- The deepest active (non-exercise) extent covering each building, kept up to date when an
-- extent arrives or is withdrawn and after an import; the building's expected depth is the
-- greater of this and its own model attribute (flood_depth_m).
ALTER TABLE buildings
    ADD COLUMN extent_depth_m double precision,
    ADD COLUMN extent_rank    smallint;
