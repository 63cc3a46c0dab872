package rollout

import (
	"swemill/difftext"
	"swemill/pipeline"
)

// FlagUnsafePatch flags a trajectory whose patch the grader's patch gate refused (Grade
// Problem "unsafe_patch": a symbolic link, a path outside the tree or under .git, a mode
// that is not a regular file's). The patch was not applied and every test failed. It is a
// security flag (pipeline.IsSecurityReason).
const FlagUnsafePatch = pipeline.ReasonUnsafePatch

// gateGold passes the gold patch through the patch gate before the oracle applies it in a
// workspace: a refusal drops the item (unsafe_patch).
func gateGold(inst *pipeline.Instance) error {
	if err := difftext.CheckPatch(inst.Patch); err != nil {
		return pipeline.Drop(pipeline.ReasonUnsafePatch, "the gold patch of %s: %v", inst.InstanceID, err)
	}
	return nil
}
