-- Residents with several locations, needs and push channels; deliveries become the outbox.

ALTER TABLE subscribers
    ADD COLUMN needs      text[] NOT NULL DEFAULT '{}',
    ADD COLUMN drills     boolean NOT NULL DEFAULT false,
    ADD COLUMN token_hash bytea,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- Where a resident may be. A current location expires; written_at lets the notifier's
-- in-memory index catch up with what changed since it last looked.
CREATE TABLE subscriber_locations (
    subscriber_id uuid NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('home', 'work', 'current')),
    lat           double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon           double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    expires_at    timestamptz,
    written_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscriber_id, kind)
);
INSERT INTO subscriber_locations (subscriber_id, kind, lat, lon)
    SELECT id, 'home', lat, lon FROM subscribers;
DROP INDEX subscribers_by_position;
ALTER TABLE subscribers DROP COLUMN lat, DROP COLUMN lon;
CREATE INDEX subscriber_locations_by_write ON subscriber_locations (written_at);
CREATE INDEX subscriber_locations_by_position ON subscriber_locations (lon, lat);

-- Removed residents and locations, so an in-memory index can drop them too.
CREATE TABLE subscriber_removals (
    subscriber_id uuid NOT NULL,
    kind          text,            -- NULL: the whole resident
    removed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriber_removals_by_time ON subscriber_removals (removed_at);

CREATE TABLE push_channels (
    id            uuid PRIMARY KEY,
    subscriber_id uuid NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    endpoint      text NOT NULL,
    p256dh        text NOT NULL,
    auth          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz,     -- the push service said the endpoint is gone (404/410)
    UNIQUE (subscriber_id, endpoint)
);

-- The outbox. One row per resident, alert version and channel ('inbox' or 'push:<channel id>');
-- the primary key is the at-most-once guarantee. Workers claim due rows, highest level first.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_pkey;
ALTER TABLE deliveries
    ADD COLUMN status          text NOT NULL DEFAULT 'delivered'
        CHECK (status IN ('pending', 'delivered', 'failed', 'gone')),
    ADD COLUMN priority        smallint NOT NULL DEFAULT 0,
    ADD COLUMN attempts        integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN lease_until     timestamptz,
    ADD COLUMN last_error      text,
    ADD COLUMN delivered_at    timestamptz;
UPDATE deliveries SET delivered_at = created_at;
ALTER TABLE deliveries ADD PRIMARY KEY (alert_id, subscriber_id, channel);
CREATE INDEX deliveries_due ON deliveries (priority DESC, next_attempt_at)
    WHERE status = 'pending';

CREATE TABLE answers (
    id            bigserial PRIMARY KEY,
    subscriber_id uuid NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    alert_id      uuid,
    status        text NOT NULL CHECK (status IN ('safe', 'evacuating', 'need_help')),
    lat           double precision,
    lon           double precision,
    note          text NOT NULL DEFAULT '',
    answered_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX answers_by_alert ON answers (alert_id, subscriber_id, answered_at DESC);
CREATE INDEX answers_by_subscriber ON answers (subscriber_id, answered_at DESC);

-- Drill alerts (CAP status Exercise) reach only residents who opted in; circles are CAP circles,
-- targeted by exact distance; an incident alert (pattern D) names its incident.
ALTER TABLE alerts
    ADD COLUMN exercise    boolean NOT NULL DEFAULT false,
    ADD COLUMN circles     jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN incident_id uuid;
