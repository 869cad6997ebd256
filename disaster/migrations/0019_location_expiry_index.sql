-- Expired current locations are deleted (disaster/retention.py): find them without a scan.
CREATE INDEX subscriber_locations_expiring ON subscriber_locations (expires_at)
    WHERE expires_at IS NOT NULL;
