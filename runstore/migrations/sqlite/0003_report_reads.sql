-- The rows that are done, per stage in instance order: what the report and the export page
-- through (stage = ? AND state = 'done' AND instance_id > ? ORDER BY instance_id), which the
-- funnel index could only serve by sorting every done row of the stage for each page.
CREATE INDEX IF NOT EXISTS swemill_stage_states_done ON swemill_stage_states (stage, instance_id) WHERE state = 'done';
-- Each stage row carries its instance's repository and language, so the funnels per
-- repository and per language are one pass over an index instead of a join of every stage
-- row with its instance.
ALTER TABLE swemill_stage_states ADD COLUMN repo TEXT NOT NULL DEFAULT '';
ALTER TABLE swemill_stage_states ADD COLUMN language TEXT NOT NULL DEFAULT '';
UPDATE swemill_stage_states SET
    repo = (SELECT i.repo FROM swemill_instances i WHERE i.instance_id = swemill_stage_states.instance_id),
    language = (SELECT i.language FROM swemill_instances i WHERE i.instance_id = swemill_stage_states.instance_id)
WHERE EXISTS (SELECT 1 FROM swemill_instances i WHERE i.instance_id = swemill_stage_states.instance_id);
CREATE INDEX IF NOT EXISTS swemill_stage_states_repo ON swemill_stage_states (repo, language, stage, state);
-- The seconds of finished rows in order per stage: the timings' count, sum and percentiles
-- read this index alone.
CREATE INDEX IF NOT EXISTS swemill_stage_states_seconds ON swemill_stage_states (stage, seconds) WHERE state IN ('done', 'dropped', 'failed');
-- What the report reads of a done output (the flaky tests of a validation, the figures of
-- each trajectory), written with the output in the output's own shape; NULL for rows
-- written before this column existed, whose output is read instead.
ALTER TABLE swemill_stage_states ADD COLUMN summary TEXT;
