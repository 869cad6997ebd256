-- What the system itself accepted (incident reports, issued alerts, MQTT readings) is kept here
-- until the broker has acknowledged it, and for a retention window after, so that a broker
-- that restarts empty can be given it again.
CREATE TABLE ingress_outbox (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    key          bytea,
    value        bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}',  -- Kafka record headers, text values
    accepted_at  timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

CREATE INDEX ingress_outbox_unpublished ON ingress_outbox (id) WHERE published_at IS NULL;
CREATE INDEX ingress_outbox_accepted ON ingress_outbox (accepted_at);
