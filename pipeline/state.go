package pipeline

// State is an instance's state in one stage.
type State string

// States an instance moves through in each stage. An instance has no row in a stage it has
// not reached.
const (
	// StatePending: the stage's job is queued (first time, after a retry or a rerun).
	StatePending State = "pending"
	// StateRunning: a worker has the item.
	StateRunning State = "running"
	// StateDone: the stage produced its output.
	StateDone State = "done"
	// StateDropped: the stage found the item is not a task; Reason says why.
	StateDropped State = "dropped"
	// StateFailed: the stage failed on every attempt; Detail holds the last error.
	StateFailed State = "failed"
	// StateStale: a rerun of an earlier stage invalidated this stage's result; it is redone
	// when the earlier stage is done again.
	StateStale State = "stale"
)

// AllStates lists the states in the order reports show them.
var AllStates = []State{StatePending, StateRunning, StateDone, StateDropped, StateFailed, StateStale}
