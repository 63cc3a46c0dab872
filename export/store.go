package export

import (
	"context"
	"encoding/json"
	"iter"

	"swemill/pipeline"
	"swemill/runstore"
)

// FromStore is the Source of a run's store. config is the run's configuration as a JSON object
// with secrets removed (it goes into the card); nil leaves it out.
func FromStore(s *runstore.Store, config json.RawMessage) Source {
	return storeSource{s: s, config: config}
}

type storeSource struct {
	s      *runstore.Store
	config json.RawMessage
}

func (src storeSource) Tasks(ctx context.Context) iter.Seq2[*Task, error] {
	return func(yield func(*Task, error) bool) {
		for t, err := range src.s.Tasks(ctx) {
			if err != nil {
				yield(nil, err)
				return
			}
			task := &Task{Instance: t.Instance, Environment: t.Environment, Validation: t.Validation, Artifacts: t.Artifacts}
			if !yield(task, nil) {
				return
			}
		}
	}
}

func (src storeSource) Rollouts(ctx context.Context) iter.Seq2[*Rollout, error] {
	return func(yield func(*Rollout, error) bool) {
		for r, err := range src.s.Rollouts(ctx) {
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(&Rollout{Trajectory: r.Trajectory, Artifacts: r.Artifacts}, nil) {
				return
			}
		}
	}
}

func (src storeSource) Funnel(ctx context.Context) (Funnel, error) {
	st, err := src.s.Status(ctx)
	if err != nil {
		return nil, err
	}
	f := make(Funnel, 0, len(st.Stages))
	for _, s := range st.Stages {
		sf := StageFunnel{Stage: s.Stage, States: map[string]int64{}, Drops: map[string]int64{}}
		for state, n := range s.Counts {
			sf.States[string(state)] = int64(n)
		}
		for _, d := range s.Drops {
			sf.Drops[d.Reason] = int64(d.Count)
		}
		f = append(f, sf)
	}
	return f, nil
}

func (src storeSource) Run(context.Context) (RunInfo, error) {
	return RunInfo{Version: pipeline.Version, Config: src.config}, nil
}
