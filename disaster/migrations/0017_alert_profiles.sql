-- The routing profiles an alert is limited to (resident.profile_for of their needs), e.g. a
-- level 3 (高齢者等避難) for those who need time to evacuate. Empty: everyone, as before.
ALTER TABLE alerts ADD COLUMN profiles text[] NOT NULL DEFAULT '{}'
    CHECK (profiles <@ ARRAY['walk', 'slow_walk', 'wheelchair']::text[]);
