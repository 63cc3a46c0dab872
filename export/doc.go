// Package export writes a run's validated tasks and graded trajectories as a Hugging Face
// dataset repository: Parquet shards under data/<config>/<split>-NNNNN-of-NNNNN.parquet
// (configs "tasks", "trajectories" and optionally "sft" and "sft_native"), a dataset card (README.md) whose
// YAML header describes the configs, features and splits, and manifest.json, which ties
// every row to the image, recipe, logs and swemill version that produced it.
//
// Rows stream from a Source, which the run store implements, into Arrow record batches and
// zstd-compressed Parquet row groups bounded by bytes, with the page index written. The
// same Source and Config give byte-identical files.
//
// Export is where swemill's Arrow code lives: the sub-package parquetjson reads Parquet files
// back as rows of JSON values (the miner's import of SWE-bench-format task files uses it),
// and parquetjsontest writes small Parquet files for tests.
package export
