// Package pipeline holds what crosses swemill's stages and nothing heavier: the records each
// stage produces (Instance, Environment, Validation, Trajectory), the states an instance moves
// through, the stage interfaces (Miner, Processor) with their outcomes (DropError,
// RetryAfterError) and the content-addressed artifact directory the stages write to. It
// depends on the standard library and zerolog only, so a parser or a tool format can use the
// records without pulling in a database; the run store and the runner that chains the stages
// are in swemill/runstore.
package pipeline
