-- The drill run an incident belongs to (NULL: a real one). A report joins only an incident of
-- its own kind of traffic: a drill's report never confirms a real incident, and a real report
-- is never swallowed by a drill's incident (and by the exercise alert it already has).
ALTER TABLE incidents ADD COLUMN exercise_run text;
