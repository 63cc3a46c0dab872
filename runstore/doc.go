// Package runstore is a run's record and the engine that works it: swemill's own tables in
// SQLite or PostgreSQL (instances, per-stage states, transitions, artifacts, repositories),
// the River queue the stages' jobs go through, the runner that hands items to the stages and
// records each outcome in the same transaction as the next job, reruns, worker presence, and
// the queries the CLI, the report and the exporter read (status, ls, show, the dataset
// iterators). The records themselves are in swemill/pipeline.
package runstore
