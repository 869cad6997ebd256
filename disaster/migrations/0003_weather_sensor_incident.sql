-- Issue 3: weather reports, sensors, incidents and road closures, each queryable by time,
-- kind and area.

CREATE TABLE weather_reports (
    id          text PRIMARY KEY,
    source      text NOT NULL,
    series      text NOT NULL,
    title       text NOT NULL,
    info_type   text NOT NULL,
    mode        text NOT NULL,
    reported_at timestamptz NOT NULL,
    alert_level smallint CHECK (alert_level BETWEEN 1 AND 5),
    headline    text NOT NULL,
    area_codes  text[] NOT NULL DEFAULT '{}',
    bbox        double precision[],             -- min_lon, min_lat, max_lon, max_lat, if any
    body        jsonb NOT NULL,
    original    bytea NOT NULL,                 -- the document as received
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX weather_reports_by_time ON weather_reports (reported_at);
CREATE INDEX weather_reports_by_series ON weather_reports (series, reported_at DESC);
CREATE INDEX weather_reports_by_area ON weather_reports USING gin (area_codes);

-- The report that currently speaks for each series (the newest by report time).
CREATE TABLE weather_series (
    series      text PRIMARY KEY,
    latest_id   text NOT NULL REFERENCES weather_reports (id),
    reported_at timestamptz NOT NULL
);

CREATE TABLE sensors (
    id                  text PRIMARY KEY,
    lat                 double precision,
    lon                 double precision,
    expected_interval_s double precision NOT NULL DEFAULT 600 CHECK (expected_interval_s > 0),
    last_seen_at        timestamptz NOT NULL DEFAULT now(),
    silent              boolean NOT NULL DEFAULT false
);

CREATE TABLE sensor_readings (
    sensor_id   text NOT NULL REFERENCES sensors (id),
    kind        text NOT NULL,
    observed_at timestamptz NOT NULL,
    value       double precision NOT NULL,
    lat         double precision,
    lon         double precision,
    source      text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sensor_id, kind, observed_at)
);
CREATE INDEX sensor_readings_by_kind ON sensor_readings (kind, observed_at);
CREATE INDEX sensor_readings_by_position ON sensor_readings (lon, lat);

-- The severity each sensor quantity is at, so a threshold is announced once per crossing.
CREATE TABLE sensor_states (
    sensor_id   text NOT NULL REFERENCES sensors (id),
    kind        text NOT NULL,
    severity    text NOT NULL DEFAULT 'none',
    observed_at timestamptz NOT NULL,
    PRIMARY KEY (sensor_id, kind)
);

CREATE TABLE incidents (
    id                uuid PRIMARY KEY,
    kind              text NOT NULL,
    severity          text NOT NULL,
    lat               double precision NOT NULL,
    lon               double precision NOT NULL,
    line              jsonb,                    -- GeoJSON LineString for roads, if given
    description       text NOT NULL,
    status            text NOT NULL DEFAULT 'open',
    report_count      integer NOT NULL DEFAULT 1,
    first_reported_at timestamptz NOT NULL,
    last_reported_at  timestamptz NOT NULL,
    resolved_at       timestamptz
);
CREATE INDEX incidents_open_by_position ON incidents (kind, lon, lat) WHERE status = 'open';
CREATE INDEX incidents_by_time ON incidents (first_reported_at);

CREATE TABLE incident_reports (
    id          uuid PRIMARY KEY,
    incident_id uuid NOT NULL REFERENCES incidents (id),
    body        jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE road_closures (
    id          text PRIMARY KEY,
    source      text NOT NULL,                  -- sensor or incident
    source_id   text NOT NULL,
    geometry    jsonb NOT NULL,                 -- GeoJSON Point or LineString
    reason      text NOT NULL,
    active      boolean NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
