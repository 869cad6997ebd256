-- Partner systems (a prefecture's system, a broadcaster, a neighbouring city) receive every
-- alert as CAP 1.2, signed with their shared secret; their deliveries are an outbox of their own.
CREATE TABLE webhooks (
    id          uuid PRIMARY KEY,
    url         text NOT NULL,
    secret      bytea NOT NULL,
    description text NOT NULL DEFAULT '',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    alert_id        uuid NOT NULL REFERENCES alerts (id),
    webhook_id      uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    status          text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    priority        smallint NOT NULL DEFAULT 0,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, webhook_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (priority DESC, next_attempt_at)
    WHERE status = 'pending';
