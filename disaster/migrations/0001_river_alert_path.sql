-- The walking skeleton: gauges, readings, hazard events, alerts, subscribers, deliveries.

CREATE TABLE stations (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    standby_m       double precision NOT NULL,  -- 水防団待機水位
    caution_m       double precision NOT NULL,  -- 氾濫注意水位
    evacuation_m    double precision NOT NULL,  -- 避難判断水位
    danger_m        double precision NOT NULL,  -- 氾濫危険水位
    gauge_min_m     double precision NOT NULL,
    gauge_max_m     double precision NOT NULL,
    area_name       text NOT NULL,
    area            jsonb NOT NULL,             -- GeoJSON Polygon, lon/lat
    stage           smallint NOT NULL DEFAULT 0 CHECK (stage BETWEEN 0 AND 4),
    last_observed_at timestamptz,
    CHECK (gauge_min_m < standby_m AND standby_m < caution_m AND caution_m < evacuation_m
           AND evacuation_m < danger_m AND danger_m < gauge_max_m)
);

CREATE TABLE river_readings (
    station_id  text NOT NULL REFERENCES stations (id),
    observed_at timestamptz NOT NULL,
    level_m     double precision NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, observed_at)
);

CREATE TABLE hazard_events (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL,
    station_id  text REFERENCES stations (id),
    observed_at timestamptz NOT NULL,
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hazard_events_by_reading ON hazard_events (station_id, observed_at);

CREATE TABLE alerts (
    id              uuid PRIMARY KEY,
    hazard_event_id uuid UNIQUE REFERENCES hazard_events (id),
    level           smallint NOT NULL CHECK (level BETWEEN 1 AND 5),
    hazard          text NOT NULL,
    status          text NOT NULL,
    area_name       text NOT NULL,
    area            jsonb NOT NULL,
    headline        jsonb NOT NULL,
    issued_at       timestamptz NOT NULL
);
CREATE INDEX alerts_by_time ON alerts (issued_at DESC);

CREATE TABLE subscribers (
    id          uuid PRIMARY KEY,
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    language    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscribers_by_position ON subscribers (lon, lat);

CREATE TABLE deliveries (
    alert_id        uuid NOT NULL REFERENCES alerts (id),
    subscriber_id   uuid NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    channel         text NOT NULL DEFAULT 'inbox',
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, subscriber_id)
);
CREATE INDEX deliveries_by_subscriber ON deliveries (subscriber_id, created_at DESC);

-- Rejected input is kept, not only sent to the DLQ topic: the broker may forget, Postgres does not.
CREATE TABLE rejected_inputs (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    record_key  bytea,
    record_value bytea,
    reason      text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now()
);
-- No uniqueness on the Kafka position: an embedded broker restarts its offsets at 0, and a
-- rejected record redelivered after a crash is better kept twice than a new one lost.
