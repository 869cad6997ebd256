-- The alert lifecycle: every version of an alert is a row of its series; drafts wait for
-- approval (two different operators at level 5); an issued version supersedes the one before.
ALTER TABLE alerts
    ADD COLUMN series_id  uuid,
    ADD COLUMN version    integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    ADD COLUMN msg_type   text NOT NULL DEFAULT 'Alert' CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
    ADD COLUMN created_by text NOT NULL DEFAULT 'system';
UPDATE alerts SET series_id = id;
ALTER TABLE alerts ALTER COLUMN series_id SET NOT NULL;
ALTER TABLE alerts ADD CONSTRAINT alerts_status_known
    CHECK (status IN ('draft', 'approved', 'issued', 'superseded', 'cancelled'));
CREATE UNIQUE INDEX alerts_series_version ON alerts (series_id, version);

CREATE TABLE alert_approvals (
    alert_id    uuid NOT NULL REFERENCES alerts (id),
    operator    text NOT NULL,
    approved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, operator)
);
