// Package pipeline holds what crosses swemill's stages: the records each stage produces
// (Instance, Environment, Validation, Trajectory), the run store (swemill's own tables in
// SQLite or PostgreSQL) and the runner that chains the stages as River jobs.
package pipeline
