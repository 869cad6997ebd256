-- Issue 4: shelters, the places routes lead to.

CREATE TABLE shelters (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    capacity    integer CHECK (capacity >= 0),
    occupancy   integer NOT NULL DEFAULT 0 CHECK (occupancy >= 0),
    open        boolean NOT NULL DEFAULT false,
    hazards     text[] NOT NULL DEFAULT '{}',
    body        jsonb NOT NULL,             -- the full normalised record
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shelters_by_position ON shelters (lon, lat);
