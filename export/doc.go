// Package export writes a run's validated tasks and graded trajectories as a Hugging Face
// dataset repository: Parquet shards under data/<config>/<split>-NNNNN-of-NNNNN.parquet
// (configs "tasks", "trajectories" and optionally "sft"), a dataset card (README.md) whose
// YAML header describes the configs, features and splits, and manifest.json, which ties
// every row to the image, recipe, logs and swemill version that produced it.
//
// Rows stream from a Source, which the run store implements, into Arrow record batches and
// zstd-compressed Parquet row groups bounded by bytes, with the page index written. The
// same Source and Config give byte-identical files.
package export
