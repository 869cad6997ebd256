-- The area an incident covers (a flooded district, a landslide), as GeoJSON: the union of the
-- areas its reports gave. Roads inside it are closed while the incident is open.
ALTER TABLE incidents ADD COLUMN area jsonb;
