package runstore

import (
	"sort"

	"swemill/pipeline"
)

// SecurityDrop counts the instances dropped for one security reason.
type SecurityDrop struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
	// Stages counts them per stage, in chain order.
	Stages []StageCount `json:"stages"`
}

// StageCount is a count in one stage.
type StageCount struct {
	Stage string `json:"stage"`
	Count int    `json:"count"`
}

// SecurityDrops returns the security drops of a status, most frequent first (then by
// reason); none gives an empty list.
func (st Status) SecurityDrops() []SecurityDrop {
	out := []SecurityDrop{}
	idx := map[string]int{}
	for _, s := range st.Stages {
		for _, d := range s.Drops {
			if !pipeline.IsSecurityReason(d.Reason) || d.Count == 0 {
				continue
			}
			i, ok := idx[d.Reason]
			if !ok {
				i = len(out)
				idx[d.Reason] = i
				out = append(out, SecurityDrop{Reason: d.Reason})
			}
			out[i].Count += d.Count
			out[i].Stages = append(out[i].Stages, StageCount{Stage: s.Stage, Count: d.Count})
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Count != out[b].Count {
			return out[a].Count > out[b].Count
		}
		return out[a].Reason < out[b].Reason
	})
	return out
}
