-- swemill's own tables: the record of a run. River's tables (river_*) only schedule work.
-- Times are Unix microseconds.

CREATE TABLE swemill_runs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    stages      TEXT NOT NULL,
    host        TEXT NOT NULL DEFAULT ''
);

-- One row per repository: its mining state and its cursor for incremental mining.
CREATE TABLE swemill_repos (
    repo        TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    page        BIGINT NOT NULL DEFAULT 0,
    attempts    BIGINT NOT NULL DEFAULT 0,
    reason      TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    cursor      TEXT NOT NULL DEFAULT '',
    run_id      BIGINT NOT NULL DEFAULT 0,
    job_id      BIGINT,
    updated_at  BIGINT NOT NULL
);

-- One row per instance; record is the Instance as mined (JSON).
CREATE TABLE swemill_instances (
    instance_id TEXT PRIMARY KEY,
    repo        TEXT NOT NULL,
    record      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX swemill_instances_repo ON swemill_instances (repo);

-- One row per instance and stage: its current state there. It is kept in the same
-- transaction as swemill_transitions, of which it is the latest row per instance and stage.
CREATE TABLE swemill_stage_states (
    instance_id TEXT NOT NULL,
    stage       TEXT NOT NULL,
    state       TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    reason      TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    output      TEXT,
    job_id      BIGINT,
    seconds     DOUBLE PRECISION NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (instance_id, stage)
);
CREATE INDEX swemill_stage_states_funnel ON swemill_stage_states (stage, state, reason);

-- Every state change, appended and never updated.
CREATE TABLE swemill_transitions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id TEXT NOT NULL,
    stage       TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    attempt     BIGINT NOT NULL DEFAULT 0,
    at          BIGINT NOT NULL
);
CREATE INDEX swemill_transitions_instance ON swemill_transitions (instance_id, stage, id);

-- Content-addressed files under the run directory, by the instance and stage that made them.
CREATE TABLE swemill_artifacts (
    instance_id TEXT NOT NULL,
    stage       TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    name        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (instance_id, stage, generation, name)
);
