-- The language of each instance's repository (lower case, as mining records it), for the
-- funnel per language; '' when unknown. Filled from the records already stored.
ALTER TABLE swemill_instances ADD COLUMN language TEXT NOT NULL DEFAULT '';
UPDATE swemill_instances SET language = lower(coalesce(json_extract(record, '$.language'), ''));
