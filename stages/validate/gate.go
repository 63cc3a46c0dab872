package validate

import (
	"swemill/difftext"
	"swemill/pipeline"
)

// ProblemUnsafePatch says the patch gate (difftext.CheckPatch) refused the model patch: a
// symbolic link, a path outside the tree or under .git, a mode that is not a regular
// file's. The patch is not applied and every test fails. It is also the drop reason of an
// instance whose patch or test patch the gate refuses, in validation and in grading; both
// are security reasons (pipeline.IsSecurityReason).
const ProblemUnsafePatch = pipeline.ReasonUnsafePatch

// gate passes one of an instance's patches through the patch gate before any container is
// created for it: a refusal is a drop (unsafe_patch).
func gate(name, patch string) error {
	if err := difftext.CheckPatch(patch); err != nil {
		return pipeline.Drop(ProblemUnsafePatch, "the %s: %v", name, err)
	}
	return nil
}

// gateModelPatch passes a model patch through the gate; a refusal is the grading problem
// unsafe_patch (the patch is not applied) and gateModelPatch reports false.
func gateModelPatch(g *GradeResult, patch string) bool {
	err := difftext.CheckPatch(patch)
	if err == nil {
		return true
	}
	g.Problem, g.Detail = ProblemUnsafePatch, "the model patch was not applied: "+err.Error()
	return false
}
