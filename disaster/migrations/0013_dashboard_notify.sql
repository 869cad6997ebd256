-- The HQ dashboard's live picture: every change it shows is announced on the `dashboard`
-- channel as {"type": ..., "key": ...} when its transaction commits, whichever process wrote it,
-- so each web process's stream re-reads the one thing that changed. Postgres delivers one
-- notification per distinct payload per transaction, so a batch of a thousand deliveries of one
-- alert announces that alert once.

CREATE FUNCTION dashboard_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        key := to_jsonb(OLD) ->> TG_ARGV[1];
    ELSE
        key := to_jsonb(NEW) ->> TG_ARGV[1];
    END IF;
    IF key IS NOT NULL THEN
        PERFORM pg_notify('dashboard', json_build_object('type', TG_ARGV[0], 'key', key)::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER dashboard_alert AFTER INSERT OR UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION dashboard_notify('alert', 'id');
CREATE TRIGGER dashboard_alert_approval AFTER INSERT ON alert_approvals
    FOR EACH ROW EXECUTE FUNCTION dashboard_notify('alert', 'alert_id');
CREATE TRIGGER dashboard_incident AFTER INSERT OR UPDATE ON incidents
    FOR EACH ROW EXECUTE FUNCTION dashboard_notify('incident', 'id');
CREATE TRIGGER dashboard_station AFTER INSERT OR UPDATE ON stations
    FOR EACH ROW EXECUTE FUNCTION dashboard_notify('station', 'id');
CREATE TRIGGER dashboard_river_reading AFTER INSERT ON river_readings
    FOR EACH ROW EXECUTE FUNCTION dashboard_notify('station', 'station_id');
CREATE TRIGGER dashboard_sensor AFTER INSERT OR UPDATE ON sensors
    FOR EACH ROW EXECUTE FUNCTION dashboard_notify('sensor', 'id');
CREATE TRIGGER dashboard_sensor_reading AFTER INSERT ON sensor_readings
    FOR EACH ROW EXECUTE FUNCTION dashboard_notify('sensor', 'sensor_id');
CREATE TRIGGER dashboard_weather AFTER INSERT OR UPDATE ON weather_series
    FOR EACH ROW EXECUTE FUNCTION dashboard_notify('weather', 'series');
CREATE TRIGGER dashboard_closure AFTER INSERT OR UPDATE ON road_closures
    FOR EACH ROW EXECUTE FUNCTION dashboard_notify('closure', 'id');
CREATE TRIGGER dashboard_shelter AFTER INSERT OR UPDATE ON shelters
    FOR EACH ROW EXECUTE FUNCTION dashboard_notify('shelter', 'id');
CREATE TRIGGER dashboard_delivery AFTER INSERT OR UPDATE OF status ON deliveries
    FOR EACH ROW EXECUTE FUNCTION dashboard_notify('delivery', 'alert_id');
CREATE TRIGGER dashboard_answer AFTER INSERT ON answers
    FOR EACH ROW EXECUTE FUNCTION dashboard_notify('delivery', 'alert_id');
