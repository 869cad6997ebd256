-- Buildings of the 3D city model (PLATEAU CityGML LOD0/LOD1): footprints, heights and the
-- expected flood, tsunami and landslide exposure, for building-level advice (pattern E) and
-- vertical-evacuation targets (pattern C). Re-imports replace a building by its gml:id.
CREATE TABLE buildings (
    id                text PRIMARY KEY,               -- gml:id
    name              text,                           -- gml:name, for the named (public) ones
    footprint         jsonb NOT NULL,                 -- GeoJSON Polygon, lon/lat (WGS 84)
    lon               double precision NOT NULL,      -- a point inside the footprint
    lat               double precision NOT NULL,
    min_lon           double precision NOT NULL,      -- the footprint's bounding box
    min_lat           double precision NOT NULL,
    max_lon           double precision NOT NULL,
    max_lat           double precision NOT NULL,
    height_m          double precision CHECK (height_m > 0),  -- bldg:measuredHeight
    storeys           integer CHECK (storeys >= 0),   -- bldg:storeysAboveGround
    usage             text,                           -- bldg:usage code (421 官公庁施設...)
    flood_depth_m     double precision,               -- deepest expected flood, any river/scale
    flood_rank        smallint,                       -- highest depth class (1..6)
    tsunami_depth_m   double precision,
    landslide         boolean NOT NULL DEFAULT false, -- inside a landslide warning zone
    public            boolean NOT NULL DEFAULT false, -- usage 421 or 422: may open as a refuge
    refuge_designated boolean NOT NULL DEFAULT false, -- set by the municipality, kept on import
    nearest_node      integer NOT NULL DEFAULT -1,    -- road graph node, -1 if none loaded
    source            text NOT NULL,                  -- the file it came from
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (min_lon <= max_lon AND min_lat <= max_lat)
);
-- Box queries (the map's viewport, the buildings near a point) go through a GiST index on the
-- bounding box: Postgres' native box type needs no PostGIS. Its operators compare with a
-- tolerance (1e-6), so queries re-check the exact columns.
CREATE INDEX buildings_by_box
    ON buildings USING gist (box(point(min_lon, min_lat), point(max_lon, max_lat)));
CREATE INDEX buildings_refuges ON buildings (id) WHERE public OR refuge_designated;
