-- HQ operators, their sessions and API tokens, failed logins (for throttling), and the audit log.
CREATE TABLE operators (
    id            uuid PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Only hashes of secrets are kept: a copy of the database lets nobody log in.
CREATE TABLE operator_sessions (
    token_hash  bytea PRIMARY KEY,
    operator_id uuid NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE TABLE api_tokens (
    token_hash   bytea PRIMARY KEY,
    operator_id  uuid NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    name         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE TABLE failed_logins (
    username  text NOT NULL,
    remote    text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX failed_logins_by_user ON failed_logins (username, at);
CREATE INDEX failed_logins_by_remote ON failed_logins (remote, at);

CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,            -- operator username, or 'system', or 'resident'
    action  text NOT NULL,            -- e.g. 'PUT /api/v1/shelters/{id}', 'login', 'login failed'
    target  text NOT NULL DEFAULT '',
    status  integer,
    details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_time ON audit_log (at DESC);
