-- The tables written in bulk (readings, deliveries) announce their changes once per statement,
-- not once per row: a row trigger cost ~10 µs a row, over a third of a 5,000-reading batch's
-- insert (measured), and a city-wide alert writes a million delivery rows. The payloads are the
-- same as 0013's, one per distinct key, so the dashboard sees no difference.

CREATE FUNCTION dashboard_notify_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'SELECT pg_notify(''dashboard'', json_build_object(''type'', %L, ''key'', k)::text)
           FROM (SELECT DISTINCT %I::text AS k FROM new_rows WHERE %I IS NOT NULL) changed',
        TG_ARGV[0], TG_ARGV[1], TG_ARGV[1]);
    RETURN NULL;
END
$$;

-- Deliveries change status when settled; claims and lease renewals touch other columns only.
CREATE FUNCTION dashboard_notify_delivery_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dashboard', json_build_object('type', 'delivery', 'key', k)::text)
    FROM (SELECT DISTINCT n.alert_id::text AS k
          FROM new_rows n JOIN old_rows o
            ON (o.alert_id, o.subscriber_id, o.channel) = (n.alert_id, n.subscriber_id, n.channel)
          WHERE n.status IS DISTINCT FROM o.status) changed;
    RETURN NULL;
END
$$;

DROP TRIGGER dashboard_river_reading ON river_readings;
CREATE TRIGGER dashboard_river_reading AFTER INSERT ON river_readings
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_notify_rows('station', 'station_id');

DROP TRIGGER dashboard_sensor_reading ON sensor_readings;
CREATE TRIGGER dashboard_sensor_reading AFTER INSERT ON sensor_readings
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_notify_rows('sensor', 'sensor_id');

DROP TRIGGER dashboard_delivery ON deliveries;
CREATE TRIGGER dashboard_delivery_insert AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_notify_rows('delivery', 'alert_id');
CREATE TRIGGER dashboard_delivery_update AFTER UPDATE ON deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dashboard_notify_delivery_status();
